package io.citrack

/**
 * Which code forge a multibranch build posts to, and whether it has the credentials to.
 *
 * The branch source names the forge: a pull request's CHANGE_URL is
 * https://github.com/o/r/pull/N (GitHub Branch Source), https://gitlab.example/g/s/p/-/merge_requests/N
 * (GitLab Branch Source) or https://bitbucket.org/w/r/pull-requests/N (Bitbucket Branch Source);
 * without one the clone URL's host decides, and GitHub is the default. `forge:` overrides it.
 * A forge without a token (its credentialsId option, or the token variable already in the
 * environment) gets nothing posted: the build says so and is judged by the gate alone.
 * Pure code, unit-tested with plain maps.
 */
class Forge implements Serializable {

    private static final long serialVersionUID = 1L

    static final List NAMES = ['github', 'gitlab', 'bitbucket']
    static final Map DISPLAY = [github: 'GitHub', gitlab: 'GitLab', bitbucket: 'Bitbucket']
    /** The option that names each forge's Jenkins credential. */
    static final Map CREDENTIAL_OPTIONS = [github   : 'githubCredentialsId',
                                           gitlab   : 'gitlabCredentialsId',
                                           bitbucket: 'bitbucketCredentialsId']
    /** The variables ci-track reads each forge's token from (settings.py). */
    static final Map TOKEN_VARIABLES = [github   : ['CI_TRACK_GITHUB_TOKEN', 'GITHUB_TOKEN', 'GH_TOKEN'],
                                        gitlab   : ['CI_TRACK_GITLAB_TOKEN', 'GITLAB_TOKEN'],
                                        bitbucket: ['CI_TRACK_BITBUCKET_TOKEN']]

    /** github | gitlab | bitbucket | none: `chosen` unless 'auto', else from the branch source's URLs. */
    static String resolve(String chosen, String changeUrl, String gitUrl) {
        if (chosen && chosen != 'auto') {
            return chosen
        }
        String url = (changeUrl ?: gitUrl ?: '').toLowerCase()
        String host = hostOf(url)
        if (url.contains('/-/merge_requests/') || host.contains('gitlab')) {
            return 'gitlab'
        }
        if (url.contains('/pull-requests/') || host.contains('bitbucket')) {
            return 'bitbucket'
        }
        return 'github'
    }

    /** Whether ci-track will have `forge`'s token: its credentials option, or a token variable already set. */
    static boolean hasCredentials(String forge, Map options, Map environment) {
        if (options[CREDENTIAL_OPTIONS[forge]]) {
            return true
        }
        List names = TOKEN_VARIABLES.containsKey(forge) ? (List) TOKEN_VARIABLES[forge] : []
        for (Object name in names) {
            if (environment[name]) {
                return true
            }
        }
        return false
    }

    /** What the build log says when a pull request's report is not posted for lack of a token. */
    static String noCredentialsNotice(String caller, String forge, String reportDir) {
        String variables = ((List) TOKEN_VARIABLES[forge]).join(' or ')
        return "${caller}: no ${DISPLAY[forge]} credentials (${CREDENTIAL_OPTIONS[forge]}:, or ${variables} " +
               "in the environment): the report is not posted to the pull request; it is in the log and " +
               "archived under ${reportDir}/".toString()
    }

    private static String hostOf(String url) {
        int start = url.indexOf('://')
        String rest = start < 0 ? url : url.substring(start + 3)
        int at = rest.indexOf('@')
        int slash = rest.indexOf('/')
        if (at >= 0 && (slash < 0 || at < slash)) {
            rest = rest.substring(at + 1)  // user@host, git@host:path
        }
        for (int index = 0; index < rest.length(); index++) {
            char letter = rest.charAt(index)
            if (letter == '/' as char || letter == ':' as char) {
                return rest.substring(0, index)
            }
        }
        return rest
    }
}
