import io.citrack.Forge
import org.junit.Test

/** ciTrack.compare on any multibranch source: GitHub, GitLab, Bitbucket; without credentials; the junit report. */
class CiTrackForgeTest {

    static final String GITLAB_TOKEN = 'glpat-JenkinsCredentialNeverInAScript01'
    static final String BITBUCKET_TOKEN = 'ATCTT3xFfGN0JenkinsCredentialNeverInAScript'
    static final List<String> REPORT_ARGUMENTS = [
        '--format', 'table', '--markdown-output', 'ci-track-report/report.md',
        '--json-output', 'ci-track-report/report.json']

    FakePipeline pipeline = new FakePipeline()

    void pullRequest(String changeUrl, String gitUrl) {
        pipeline.env.CHANGE_ID = '5'
        pipeline.env.CHANGE_TARGET = 'main'
        pipeline.env.CHANGE_URL = changeUrl
        pipeline.env.GIT_URL = gitUrl
        pipeline.ciTrackPrints('compare', 'verdict: pass\n')
    }

    @Test
    void theBranchSourceNamesTheForge() {
        assert Forge.resolve('auto', 'https://github.com/o/r/pull/5', null) == 'github'
        assert Forge.resolve('auto', 'https://git.corp.example/g/s/p/-/merge_requests/5', null) == 'gitlab'
        assert Forge.resolve('auto', 'https://bitbucket.org/acme/r/pull-requests/5', null) == 'bitbucket'
        assert Forge.resolve('auto', null, 'git@gitlab.com:g/s/p.git') == 'gitlab'
        assert Forge.resolve('auto', null, 'ssh://git@bitbucket.org/acme/r.git') == 'bitbucket'
        assert Forge.resolve('auto', null, 'https://user@example.com/o/r.git') == 'github'
        assert Forge.resolve('gitlab', 'https://github.com/o/r/pull/5', null) == 'gitlab'
        assert Forge.resolve('none', null, null) == 'none'
    }

    @Test
    void aGitLabMergeRequestIsPostedWithTheGitLabCredential() {
        pipeline.credentials['gitlab'] = GITLAB_TOKEN
        pullRequest('https://gitlab.example.com/ml/models/churn/-/merge_requests/5',
                    'https://gitlab.example.com/ml/models/churn.git')
        Map stage = pipeline.runStage { ciTrack ->
            ciTrack.compare(gitlabCredentialsId: 'gitlab', gitlabApiUrl: 'https://gitlab.example.com/api/v4',
                            gitlabProject: 'ml/models/churn')
        }
        assert stage.failure == null
        assert pipeline.ciTrackCalls() == [
            ['compare'] + REPORT_ARGUMENTS + ['--forge', 'gitlab', '--comment', 'update', '--status']]
        Map seen = pipeline.ciTrackEnvironments()[0]
        assert seen.CI_TRACK_GITLAB_TOKEN == GITLAB_TOKEN
        assert seen.CI_API_V4_URL == 'https://gitlab.example.com/api/v4'
        assert seen.CI_TRACK_GITLAB_PROJECT == 'ml/models/churn'
        assert pipeline.callsOf('withCredentials')*.args == [[
            [type: 'string', credentialsId: 'gitlab', variable: 'CI_TRACK_GITLAB_TOKEN']]]
        assert !pipeline.scripts.any { it.contains(GITLAB_TOKEN) }
    }

    @Test
    void aBitbucketPullRequestIsPostedWithTheBitbucketCredential() {
        pipeline.credentials['bitbucket'] = BITBUCKET_TOKEN
        pullRequest('https://bitbucket.org/acme/churn/pull-requests/5', 'https://bitbucket.org/acme/churn.git')
        pipeline.runStage { ciTrack -> ciTrack.compare(bitbucketCredentialsId: 'bitbucket') }
        assert pipeline.ciTrackCalls() == [
            ['compare'] + REPORT_ARGUMENTS + ['--forge', 'bitbucket', '--comment', 'update', '--status']]
        assert pipeline.ciTrackEnvironments()[0].CI_TRACK_BITBUCKET_TOKEN == BITBUCKET_TOKEN
        assert !pipeline.scripts.any { it.contains(BITBUCKET_TOKEN) }
    }

    @Test
    void withoutCredentialsThePassingBuildPassesAndSaysWhyNothingWasPosted() {
        pullRequest('https://bitbucket.org/acme/churn/pull-requests/5', 'https://bitbucket.org/acme/churn.git')
        Map stage = pipeline.runStage { ciTrack -> ciTrack.compare() }
        assert stage.failure == null
        assert pipeline.currentBuild.currentResult == 'SUCCESS'
        assert pipeline.ciTrackCalls() == [['compare'] + REPORT_ARGUMENTS + ['--comment', 'off', '--no-status']]
        List notices = pipeline.callsOf('echo')*.args.findAll { it.contains('no Bitbucket credentials') }
        assert notices.size() == 1
        assert notices[0].contains('bitbucketCredentialsId:') && notices[0].contains('ci-track-report/')
    }

    @Test
    void aCredentialOfAnotherForgeDoesNotCount() {
        pipeline.credentials['github'] = 'ghs_SomeGitHubTokenForAnotherRepository00'
        pullRequest('https://gitlab.example.com/ml/churn/-/merge_requests/5', null)
        pipeline.runStage { ciTrack -> ciTrack.compare(githubCredentialsId: 'github', comment: 'update') }
        assert pipeline.ciTrackCalls()[0].takeRight(3) == ['--comment', 'off', '--no-status']
        assert pipeline.callsOf('echo')*.args.any { it.contains('no GitLab credentials') }
    }

    @Test
    void forgeNoneNeverPublishesAndSaysNothingAboutCredentials() {
        pullRequest('https://github.com/o/r/pull/5', null)
        pipeline.runStage { ciTrack -> ciTrack.compare(forge: 'none') }
        assert pipeline.ciTrackCalls()[0].takeRight(3) == ['--comment', 'off', '--no-status']
        assert !pipeline.callsOf('echo')*.args.any { it.contains('credentials') }
    }

    @Test
    void theJunitReportIsWrittenAndPublishedWithoutJudgingTheBuild() {
        pipeline.ciTrackPrints('compare', 'verdict: regression\n')
        pipeline.ciTrackExits('compare', 1)
        Map stage = pipeline.runStage { ciTrack -> ciTrack.compare(junit: true, onRegression: 'unstable') }
        assert stage.failure == null
        assert pipeline.ciTrackCalls()[0] == ['compare'] + REPORT_ARGUMENTS + ['--junit-output', 'ci-track-report/junit.xml']
        assert pipeline.callsOf('junit')*.args == [
            [testResults: 'ci-track-report/junit.xml', allowEmptyResults: true, skipMarkingBuildUnstable: true]]
        assert pipeline.currentBuild.currentResult == 'UNSTABLE'  // onRegression's word, not the junit step's
    }

    @Test
    void noJunitReportUnlessAsked() {
        pipeline.ciTrackPrints('compare', 'verdict: pass\n')
        pipeline.runStage { ciTrack -> ciTrack.compare() }
        assert pipeline.callsOf('junit') == []
    }
}
