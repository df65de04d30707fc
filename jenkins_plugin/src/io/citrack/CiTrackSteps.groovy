package io.citrack

/**
 * What the ciTrack steps do: `ciTrack.run(...)` and `ciTrackRun(...)` (and compare, promote,
 * rollback) both end here, so the two spellings cannot drift apart.
 *
 * `steps` is the calling vars/ script: every pipeline step (sh, withCredentials, readFile ...) and
 * the `env` and `currentBuild` globals are reached through it. Option checking (Options), command
 * lines (Arguments), quoting (Shell), decisions (Gate) and the library's own source (LibrarySource)
 * are plain classes beside this one and are unit-tested without Jenkins.
 * Secrets never pass through Groovy strings: withCredentials puts them in the environment of the sh
 * step and ci-track reads them there, so no script text ever contains one.
 */
class CiTrackSteps implements Serializable {

    private static final long serialVersionUID = 1L

    /** Where the steps write the installer script from the library's resources. */
    static final String INSTALLER_RESOURCE = 'io/citrack/install-ci-track.sh'
    static final String INSTALLER_PATH = '.ci-track/install-ci-track.sh'

    // Properties, not private fields: CPS-transformed closures reach them through their getters.
    final Object steps
    /** The name the pipeline author called: 'ciTrack.run' or 'ciTrackRun'; error messages use it. */
    final String caller

    CiTrackSteps(Object steps, String caller) {
        this.steps = steps
        this.caller = caller
    }

    /** `ci-track run`; returns the run id and sets env.CI_TRACK_RUN_ID. */
    String run(Map options) {
        Map opts = validated('run', options)
        String executable = ciTrackExecutable(opts)
        String propertiesPath = workspacePath('ci-track.properties')
        // A ci-track.properties left by an earlier build in this workspace must not be read back as ours.
        String script = 'rm -f ' + Shell.quote(propertiesPath) + '\n' +
            Shell.join([executable] + Arguments.run(opts)) + '\n'
        // Named explicitly so the file is found even when the step runs inside dir(...).
        int status = (int) withCiTrackEnvironment(opts, ['CI_TRACK_PROPERTIES_FILE=' + propertiesPath]) {
            steps.sh(script: script, returnStatus: true, label: 'ci-track run')
        }
        String runId = readRunId(propertiesPath)
        if (runId) {
            steps.env.CI_TRACK_RUN_ID = runId
            steps.currentBuild.description = Gate.runDescription(runId)
            if (opts.archive) {
                steps.archiveArtifacts(artifacts: 'ci-track.properties', allowEmptyArchive: true)
            }
        }
        if (status != 0) {
            steps.error("${caller}: ci-track run failed with exit code ${status} (the training command's own code, " +
                        "or ci-track's: 2 usage, 3 tracking server); see the log above${runId ? ', run ' + runId : ''}")
        }
        if (!runId) {
            steps.echo("${caller}: ci-track wrote no RUN_ID to ${propertiesPath}; " +
                       'compare and promote will look the run up themselves')
        }
        return runId
    }

    /**
     * `ci-track compare`: the table in the log, report.md and report.json archived, the verdict
     * (read from report.json) as the build description, the build gated by onRegression.
     */
    Map compare(Map options) {
        Map opts = validated('compare', options)
        String runId = opts.runId ?: steps.env.CI_TRACK_RUN_ID
        Map paths = Arguments.reportPaths(opts)
        String executable = ciTrackExecutable(opts)
        String changeId = (String) steps.env.CHANGE_ID
        String forge = Forge.resolve((String) opts.forge, (String) steps.env.CHANGE_URL, (String) steps.env.GIT_URL)
        // A PR build, or an explicit comment/status, publishes; without the forge's token it is skipped
        // with a notice, so a passing build never fails for a missing token.
        boolean wantsToPublish = (changeId && opts.comment != 'off') || !(opts.comment in ['auto', 'off']) || opts.status
        boolean hasToken = forge != 'none' && Forge.hasCredentials(forge, opts, (Map) envSnapshot())
        if (wantsToPublish && !hasToken && forge != 'none') {
            steps.echo(Forge.noCredentialsNotice(caller, forge, (String) paths.directory))
        }
        boolean canPublish = hasToken || !wantsToPublish
        String command = Shell.join([executable] + Arguments.compare(opts, runId, changeId, forge, canPublish))
        List written = [paths.markdown, paths.json] + (opts.junit ? [paths.junit] : [])
        String script = Shell.captureStdout(command, paths.stdout, ['.ci-track', paths.directory], written)
        int status = (int) withCiTrackEnvironment(opts, []) {
            steps.sh(script: script, returnStatus: true, label: 'ci-track compare')
        }
        String verdict = Gate.verdictFromReport(readIfPresent((String) paths.json))
        if (opts.archive) {
            steps.archiveArtifacts(artifacts: "${paths.markdown}, ${paths.json}", allowEmptyArchive: true)
        }
        if (opts.junit && steps.fileExists((String) paths.junit)) {
            // onRegression decides the build's result, not the junit step's failed test cases
            steps.junit(testResults: paths.junit, allowEmptyResults: true, skipMarkingBuildUnstable: true)
        }
        if (verdict) {
            steps.currentBuild.description = verdict
        }
        Map decision = Gate.decide(status, (String) opts.onRegression, verdict)
        if (decision.action == 'fail') {
            steps.error((String) decision.message)
        } else if (decision.action == 'unstable') {
            steps.unstable((String) decision.message)
        } else {
            steps.echo((String) decision.message)
        }
        return [exitCode      : status,
                verdict       : verdict,
                regression    : status == Gate.REGRESSION,
                markdownReport: paths.markdown,
                jsonReport    : paths.json]
    }

    /** `ci-track promote`: point the champion alias at the run (runId, else this build's run). */
    String promote(Map options) {
        Map opts = validated('promote', options)
        String runId = opts.runId ?: steps.env.CI_TRACK_RUN_ID
        int status = runCiTrack(opts, Arguments.promote(opts, runId), 'ci-track promote')
        if (status != 0) {
            steps.error(Gate.failureMessage('promote', status))
        }
        if (runId) {
            steps.currentBuild.description = Gate.runDescription(runId) + ' (promoted)'
        }
        return runId
    }

    /** `ci-track rollback`: point the champion alias back at the previous champion. */
    void rollback(Map options) {
        Map opts = validated('rollback', options)
        int status = runCiTrack(opts, Arguments.rollback(opts), 'ci-track rollback')
        if (status != 0) {
            steps.error(Gate.failureMessage('rollback', status))
        }
    }

    // ---- helpers ----

    /** Check the options of `step`; an unknown key or a wrong type fails the build with what to fix. */
    private Map validated(String step, Map options) {
        try {
            return Options.validate(step, options, caller)
        } catch (IllegalArgumentException problem) {
            steps.error(problem.message)
        }
        return null
    }

    /** Run `ci-track ARGS` with the credentials of `opts`; returns its exit status. */
    private int runCiTrack(Map opts, List arguments, String label) {
        String script = Shell.join([ciTrackExecutable(opts)] + arguments) + '\n'
        return (int) withCiTrackEnvironment(opts, []) {
            steps.sh(script: script, returnStatus: true, label: label)
        }
    }

    /**
     * The ci-track to run:
     * - install: 'auto' (default): `ci-track` on the agent's PATH, else ci-track installed into venvDir
     *   from the library's own repository, at the revision Jenkins loaded the library from;
     * - install: 'none' (or 'never'): `ci-track` on the PATH, else the build fails;
     * - anything else is a pip requirement (a version, a wheel or directory, a VCS URL), installed
     *   into venvDir and used even when a ci-track is on the PATH.
     * The virtualenv is reused by later steps and builds while the requirement is the same.
     */
    private String ciTrackExecutable(Map opts) {
        String install = (String) opts.install
        boolean explicit = install != Options.INSTALL_AUTO && !Options.INSTALL_NONE.contains(install)
        if (!explicit && onPath('ci-track')) {
            return 'ci-track'
        }
        if (Options.INSTALL_NONE.contains(install)) {
            steps.error("${caller}: ci-track is not on the agent's PATH and install is '${install}'; " +
                        "install ci-track on the agent, or use install: 'auto' or a pip requirement")
        }
        List installerArguments = explicit ? ['--requirement', install] : librarySourceArguments()
        String venv = workspacePath((String) opts.venvDir)
        String installer = workspacePath(INSTALLER_PATH)
        steps.writeFile(file: installer, text: steps.libraryResource(INSTALLER_RESOURCE), encoding: 'UTF-8')
        String script = Shell.join(['sh', installer, venv, opts.python] + installerArguments) + '\n'
        int status = (int) steps.sh(script: script, returnStatus: true, label: 'install ci-track')
        if (status != 0) {
            String what = explicit ? install : "ci-track from ${installerArguments[1]} at ${installerArguments[2]}"
            steps.error("${caller}: installing ${what} into ${venv} failed (exit ${status}); the agent needs " +
                        "${opts.python} with the venv module, git, and access to the repository and to the " +
                        'package index for the dependencies; or put ci-track on the PATH, or give install: a pip requirement')
        }
        return venv + '/bin/ci-track'
    }

    private boolean onPath(String program) {
        return steps.sh(script: Shell.onPathScript(program), returnStatus: true, label: "find ${program}".toString()) == 0
    }

    /** `--git URL REVISION SUBDIRECTORY` for the installer: this library's repository and revision. */
    private List librarySourceArguments() {
        String name = LibrarySource.LIBRARY_NAME
        String revision = steps.env[LibrarySource.versionVariable(name)]
        String hint = "give install: a pip requirement, or put ci-track on the agent's PATH"
        if (!revision) {
            steps.error("${caller}: cannot install ci-track from the library's source: " +
                        "${LibrarySource.versionVariable(name)} is not set (load the library as '${name}', " +
                        "with @Library('${name}') or library '${name}'); ${hint}")
        }
        Map source
        try {
            Object job = steps.currentBuild.rawBuild.parent
            source = LibrarySource.describe(LibrarySource.configurationFor(job, name, revision))
        } catch (IllegalStateException | IllegalArgumentException | SecurityException problem) {
            // SecurityException: the Groovy sandbox refuses rawBuild and the lookup (a sandboxed library).
            steps.error("${caller}: cannot install ci-track from the library's source: ${problem.message}; ${hint}")
        }
        return ['--git', source.url, revision, source.subdirectory]
    }

    /**
     * Run `body` with the tracking URI, GitHub API URL, credentials of `opts` and `extraVariables`
     * (NAME=value strings) in the environment. withCredentials masks the values in the log; nothing
     * here reads them.
     */
    private Object withCiTrackEnvironment(Map opts, List extraVariables, Closure body) {
        List variables = new ArrayList(extraVariables)
        if (opts.mlflowTrackingUri) {
            variables.add('MLFLOW_TRACKING_URI=' + opts.mlflowTrackingUri)
        }
        if (opts.githubApiUrl) {
            variables.add('GITHUB_API_URL=' + opts.githubApiUrl)
        }
        if (opts.gitlabApiUrl) {
            variables.add('CI_API_V4_URL=' + opts.gitlabApiUrl)
        }
        if (opts.gitlabProject) {
            variables.add('CI_TRACK_GITLAB_PROJECT=' + opts.gitlabProject)
        }
        if (opts.bitbucketApiUrl) {
            variables.add('CI_TRACK_BITBUCKET_API_URL=' + opts.bitbucketApiUrl)
        }
        List bindings = credentialBindings(opts)
        return steps.withEnv(variables) {
            steps.withCredentials(bindings) {
                body()
            }
        }
    }

    private List credentialBindings(Map opts) {
        List bindings = []
        if (opts.mlflowCredentialsId) {
            if (opts.mlflowCredentialsType == 'usernamePassword') {
                bindings.add(steps.usernamePassword(credentialsId: opts.mlflowCredentialsId,
                                                    usernameVariable: 'MLFLOW_TRACKING_USERNAME',
                                                    passwordVariable: 'MLFLOW_TRACKING_PASSWORD'))
            } else {
                bindings.add(steps.string(credentialsId: opts.mlflowCredentialsId, variable: 'MLFLOW_TRACKING_TOKEN'))
            }
        }
        if (opts.githubCredentialsId) {
            if (opts.githubCredentialsType == 'usernamePassword') {
                // A GitHub App credential: the password is the installation token.
                bindings.add(steps.usernamePassword(credentialsId: opts.githubCredentialsId,
                                                    usernameVariable: 'CI_TRACK_GITHUB_USERNAME',
                                                    passwordVariable: 'GITHUB_TOKEN'))
            } else {
                bindings.add(steps.string(credentialsId: opts.githubCredentialsId, variable: 'GITHUB_TOKEN'))
            }
        }
        if (opts.gitlabCredentialsId) {
            bindings.add(steps.string(credentialsId: opts.gitlabCredentialsId, variable: 'CI_TRACK_GITLAB_TOKEN'))
        }
        if (opts.bitbucketCredentialsId) {
            bindings.add(steps.string(credentialsId: opts.bitbucketCredentialsId, variable: 'CI_TRACK_BITBUCKET_TOKEN'))
        }
        return bindings
    }

    /** The build's variables as a map (Jenkins' `env` global is not one; the tests' is). */
    private Object envSnapshot() {
        Object environment = steps.env
        if (environment instanceof Map) {
            return environment
        }
        Map found = [:]
        for (Object names in Forge.TOKEN_VARIABLES.values()) {
            for (Object name in (List) names) {
                found[name] = environment[name]
            }
        }
        return found
    }

    private String workspacePath(String path) {
        String workspace = steps.env.WORKSPACE
        if (path.startsWith('/') || !workspace) {
            return path
        }
        return "${workspace}/${path}".toString()
    }

    /** The text of `path`, or null when the file does not exist. */
    private String readIfPresent(String path) {
        return steps.fileExists(path) ? steps.readFile(file: path, encoding: 'UTF-8') : null
    }

    /** RUN_ID from ci-track.properties, or null when the file is missing or has none. */
    private String readRunId(String propertiesPath) {
        String text = readIfPresent(propertiesPath)
        return Gate.runIdOf(text)
    }
}
