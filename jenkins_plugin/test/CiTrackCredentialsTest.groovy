import org.junit.Test

/**
 * Credentials reach ci-track only as environment variables bound by withCredentials:
 * never in a script's text, never in an argument.
 */
class CiTrackCredentialsTest {

    static final String MLFLOW_TOKEN = 'mlflow-token-Zq8XvB3nK1pL9sD4fG7hJ2'
    static final String MLFLOW_PASSWORD = 'mlflow-password-$(id)`id`\'"-Wm5Rt8'
    static final String GITHUB_TOKEN = 'ghs_fakeInstallationTokenYp3Lk9Vb2Nc7Xz'

    FakePipeline pipeline = new FakePipeline()

    void assertNoSecretInAnyScriptOrArgument() {
        List<String> secrets = [MLFLOW_TOKEN, MLFLOW_PASSWORD, GITHUB_TOKEN]
        assert !pipeline.scripts.isEmpty()
        for (String script in pipeline.scripts) {
            for (String secret in secrets) {
                assert !script.contains(secret)
            }
        }
        for (List<String> argv in pipeline.ciTrackCalls()) {
            for (String secret in secrets) {
                assert !argv.any { it.contains(secret) }
            }
        }
        for (Map call in pipeline.callsOf('withEnv')) {
            assert !secrets.any { call.args.toString().contains(it) }
        }
    }

    @Test
    void mlflowTokenAndGithubTokenAreBoundAsEnvironmentVariables() {
        pipeline.credentials['mlflow'] = MLFLOW_TOKEN
        pipeline.credentials['github'] = GITHUB_TOKEN
        pipeline.env.CHANGE_ID = '7'
        pipeline.ciTrackPrints('compare', 'verdict: pass\n')
        Map stage = pipeline.runStage { ciTrack ->
            ciTrack.compare(mlflowCredentialsId: 'mlflow', githubCredentialsId: 'github',
                            mlflowTrackingUri: 'https://mlflow.example.com', githubApiUrl: 'https://ghe.example.com/api/v3')
        }
        assert stage.failure == null
        Map seen = pipeline.ciTrackEnvironments()[0]
        assert seen.MLFLOW_TRACKING_TOKEN == MLFLOW_TOKEN
        assert seen.GITHUB_TOKEN == GITHUB_TOKEN
        assert seen.MLFLOW_TRACKING_URI == 'https://mlflow.example.com'
        assert seen.GITHUB_API_URL == 'https://ghe.example.com/api/v3'
        assert pipeline.callsOf('withCredentials')*.args == [[
            [type: 'string', credentialsId: 'mlflow', variable: 'MLFLOW_TRACKING_TOKEN'],
            [type: 'string', credentialsId: 'github', variable: 'GITHUB_TOKEN']]]
        assertNoSecretInAnyScriptOrArgument()
    }

    @Test
    void usernamePasswordCredentialsBecomeMlflowBasicAuth() {
        pipeline.credentials['mlflow-basic'] = [username: 'ci-bot', password: MLFLOW_PASSWORD]
        pipeline.credentials['github-app'] = [username: '123456', password: GITHUB_TOKEN]
        pipeline.ciTrackWritesProperties('RUN_ID=r1\n')
        pipeline.runStage { ciTrack ->
            ciTrack.run(command: ['python', 'train.py'], mlflowCredentialsId: 'mlflow-basic',
                        mlflowCredentialsType: 'usernamePassword',
                        githubCredentialsId: 'github-app', githubCredentialsType: 'usernamePassword')
        }
        Map seen = pipeline.ciTrackEnvironments()[0]
        assert seen.MLFLOW_TRACKING_USERNAME == 'ci-bot'
        assert seen.MLFLOW_TRACKING_PASSWORD == MLFLOW_PASSWORD
        assert !seen.containsKey('MLFLOW_TRACKING_TOKEN')
        assert seen.GITHUB_TOKEN == GITHUB_TOKEN
        assertNoSecretInAnyScriptOrArgument()
    }

    @Test
    void credentialsAreBoundForEveryStep() {
        pipeline.credentials['mlflow'] = MLFLOW_TOKEN
        pipeline.ciTrackWritesProperties('RUN_ID=r1\n')
        pipeline.ciTrackPrints('compare', 'verdict: pass\n')
        pipeline.runStage { ciTrack ->
            ciTrack.run(command: 'train', mlflowCredentialsId: 'mlflow')
            ciTrack.compare(mlflowCredentialsId: 'mlflow')
            ciTrack.promote(mlflowCredentialsId: 'mlflow')
            ciTrack.rollback(mlflowCredentialsId: 'mlflow')
        }
        assert pipeline.ciTrackCalls()*.getAt(0) == ['run', 'compare', 'promote', 'rollback']
        assert pipeline.ciTrackEnvironments()*.MLFLOW_TRACKING_TOKEN == [MLFLOW_TOKEN] * 4
        assertNoSecretInAnyScriptOrArgument()
    }

    @Test
    void withoutCredentialsNothingIsBound() {
        pipeline.ciTrackPrints('compare', 'verdict: pass\n')
        pipeline.runStage { ciTrack -> ciTrack.compare() }
        assert pipeline.callsOf('withCredentials')*.args == [[]]
        assert pipeline.ciTrackEnvironments()[0] == [:]
    }

    @Test
    void aCredentialOfTheWrongTypeFailsTheBuild() {
        pipeline.credentials['mlflow'] = [username: 'u', password: MLFLOW_PASSWORD]
        Map stage = pipeline.runStage { ciTrack -> ciTrack.compare(mlflowCredentialsId: 'mlflow') }
        assert stage.failure.message.contains("Credentials 'mlflow' is of type 'Username with password'")
        assert pipeline.currentBuild.result == 'FAILURE'
        assert pipeline.ciTrackCalls() == []
    }

    @Test
    void secretsDoNotReachTheLogThroughTheLibrary() {
        pipeline.credentials['mlflow'] = MLFLOW_TOKEN
        pipeline.ciTrackPrints('compare', 'verdict: pass\n')
        pipeline.runStage { ciTrack -> ciTrack.compare(mlflowCredentialsId: 'mlflow') }
        // sh runs with -x, so the log shows every command the library ran
        assert pipeline.log.toString().contains('+ ci-track compare')
        assert !pipeline.log.toString().contains(MLFLOW_TOKEN)
    }
}
