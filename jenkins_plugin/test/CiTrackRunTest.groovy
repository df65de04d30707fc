import org.junit.Test

/** ciTrack.run: the exact `ci-track run` argv, the run id read back, failures. */
class CiTrackRunTest {

    static final String RUN_ID = '0123456789abcdef0123456789abcdef'

    FakePipeline pipeline = new FakePipeline()

    FakePipeline withRunRecorded() {
        pipeline.ciTrackWritesProperties("RUN_ID=${RUN_ID}\nRUN_URL=http\\://mlflow\\:5000/\\#/experiments/1/runs/${RUN_ID}\nEXPERIMENT_ID=1\n")
        return pipeline
    }

    @Test
    void stringCommandRunsThroughShAfterTheSeparator() {
        withRunRecorded()
        Map stage = pipeline.runStage { ciTrack -> ciTrack.run(command: 'python train.py --epochs 3', experiment: 'churn') }
        assert stage.failure == null
        assert pipeline.ciTrackCalls() == [['run', '--experiment', 'churn', '--', 'sh', '-c', 'python train.py --epochs 3']]
    }

    @Test
    void listCommandIsPassedAsAnArgvWithoutAShell() {
        withRunRecorded()
        pipeline.runStage { ciTrack ->
            ciTrack.run(command: ['python', 'train.py', '--lr', '0.1'], runName: 'nightly',
                        metricsFiles: ['metrics.json', 'eval/metrics.json'], tags: [team: 'ml', stage: 'ci'])
        }
        assert pipeline.ciTrackCalls() == [[
            'run', '--run-name', 'nightly', '--metrics-file', 'metrics.json', '--metrics-file', 'eval/metrics.json',
            '--tag', 'team=ml', '--tag', 'stage=ci', '--', 'python', 'train.py', '--lr', '0.1']]
    }

    @Test
    void repeatBecomesItsFlags() {
        withRunRecorded()
        pipeline.runStage { ciTrack -> ciTrack.run(command: ['python', 'train.py'], repeat: 3) }
        pipeline.runStage { ciTrack -> ciTrack.run(command: ['python', 'train.py'], repeat: 'Auto', repeatMax: 4) }
        assert pipeline.ciTrackCalls() == [
            ['run', '--repeat', '3', '--', 'python', 'train.py'],
            ['run', '--repeat', 'auto', '--repeat-max', '4', '--', 'python', 'train.py']]
    }

    @Test
    void reuseBecomesItsFlag() {
        withRunRecorded()
        pipeline.runStage { ciTrack -> ciTrack.run(command: ['python', 'train.py'], reuse: true) }
        pipeline.runStage { ciTrack -> ciTrack.run(command: ['python', 'train.py'], reuse: false) }
        assert pipeline.ciTrackCalls() == [
            ['run', '--reuse', '--', 'python', 'train.py'],
            ['run', '--no-reuse', '--', 'python', 'train.py']]
    }

    @Test
    void badRepeatSettingsFailTheBuildBeforeAnythingRuns() {
        Map expected = [
            (0)         : "option repeat must be a whole number of runs from 1 to 20 or 'auto', not 0",
            'often'     : "option repeat must be a whole number of runs or 'auto', not a String",
            'auto'      : "repeat: 'auto' needs repeatMax:",
        ]
        expected.each { Object value, String message ->
            Map stage = new FakePipeline().runStage { ciTrack -> ciTrack.run(command: ['x'], repeat: value) }
            assert stage.failure != null && stage.failure.message.contains(message), stage.failure
        }
        Map stage = new FakePipeline().runStage { ciTrack -> ciTrack.run(command: ['x'], repeat: 3, repeatMax: 4) }
        assert stage.failure.message.contains("repeatMax: is the maximum of repeat: 'auto'")
    }

    @Test
    void entryPointPassesParamsAndProjectDir() {
        withRunRecorded()
        pipeline.runStage { ciTrack ->
            ciTrack.run(entryPoint: 'train', experiment: 'e', params: [alpha: '0.5', l1_ratio: 0.1], projectDir: 'model')
        }
        assert pipeline.ciTrackCalls() == [[
            'run', '--experiment', 'e', '--entry-point', 'train', '-P', 'alpha=0.5', '-P', 'l1_ratio=0.1',
            '--project-dir', 'model']]
    }

    @Test
    void hostileValuesArriveAsExactlyOneArgumentEach() {
        withRunRecorded()
        String experiment = "'; rm -rf / #"
        String runName = '$(id) `id` ${HOME}'
        String tagValue = 'line one\nline two "quoted" \'single\''
        String command = 'echo "$((1 + 1))" ; touch pwned'
        String unicode = 'ünïcødé ✓ 模型 \u202e'
        Map stage = pipeline.runStage { ciTrack ->
            ciTrack.run(command: command, experiment: experiment, runName: runName,
                        tags: [note: tagValue, (unicode): unicode], metricsFiles: ['*.json'])
        }
        assert stage.failure == null
        assert pipeline.ciTrackCalls() == [[
            'run', '--experiment', experiment, '--run-name', runName, '--metrics-file', '*.json',
            '--tag', "note=${tagValue}".toString(), '--tag', "${unicode}=${unicode}".toString(),
            '--', 'sh', '-c', command]]
        assert !new File(pipeline.workspace, 'pwned').exists()
    }

    @Test
    void hostileValuesAlsoSurviveDash() {
        pipeline.shell = 'dash'
        String runName = "it's \$(id) `id`\n#"
        pipeline.runStage { ciTrack -> ciTrack.run(command: ['true'], runName: runName) }
        assert pipeline.ciTrackCalls() == [['run', '--run-name', runName, '--', 'true']]
    }

    @Test
    void runIdIsReturnedAndRecordedForLaterSteps() {
        withRunRecorded()
        Map stage = pipeline.runStage { ciTrack -> ciTrack.run(command: 'train') }
        assert stage.value == RUN_ID
        assert pipeline.env.CI_TRACK_RUN_ID == RUN_ID
        assert pipeline.currentBuild.description == "ci-track run: ${RUN_ID}"
        assert pipeline.callsOf('archiveArtifacts')*.args == [[artifacts: 'ci-track.properties', allowEmptyArchive: true]]
        assert pipeline.currentBuild.currentResult == 'SUCCESS'
        // the CLI is told where to write the file, so it is found even inside dir(...)
        assert pipeline.ciTrackEnvironments()[0].CI_TRACK_PROPERTIES_FILE ==
            new File(pipeline.workspace, 'ci-track.properties').path
    }

    @Test
    void aPropertiesFileLeftByAnEarlierBuildIsNotReadBack() {
        new File(pipeline.workspace, 'ci-track.properties').text = 'RUN_ID=stale\n'
        Map stage = pipeline.runStage { ciTrack -> ciTrack.run(command: 'train') }
        assert stage.failure == null
        assert stage.value == null
        assert pipeline.env.CI_TRACK_RUN_ID == null
        assert pipeline.log.toString().contains('ci-track wrote no RUN_ID')
    }

    @Test
    void failingTrainingFailsTheBuildButKeepsTheRunId() {
        withRunRecorded()
        pipeline.ciTrackExits('run', 7)
        Map stage = pipeline.runStage { ciTrack -> ciTrack.run(command: 'train') }
        assert stage.failure instanceof PipelineError
        assert stage.failure.message.startsWith('ciTrack.run: ci-track run failed with exit code 7')
        assert stage.failure.message.endsWith(", run ${RUN_ID}")
        assert pipeline.currentBuild.result == 'FAILURE'
        assert pipeline.env.CI_TRACK_RUN_ID == RUN_ID
    }

    @Test
    void invalidOptionsFailBeforeAnythingRuns() {
        Map stage = pipeline.runStage { ciTrack -> ciTrack.run(command: 'train', experimentName: 'x') }
        assert stage.failure.message.startsWith('ciTrack.run: unknown option experimentName; valid options: ')
        assert pipeline.callsOf('sh') == []
        assert pipeline.currentBuild.result == 'FAILURE'
    }

    @Test
    void everyScriptQuotesItsValues() {
        withRunRecorded()
        pipeline.runStage { ciTrack -> ciTrack.run(command: 'x', experiment: '$(id)') }
        String runScript = pipeline.scripts.find { it.contains(' run ') }
        assert runScript.contains("--experiment '\$(id)'")
        assert runScript.contains("rm -f ${pipeline.workspace.path}/ci-track.properties")
    }
}
