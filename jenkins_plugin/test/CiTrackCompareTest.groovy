import org.junit.Test

/** ciTrack.compare: command line, reports, description and the build result for each outcome. */
class CiTrackCompareTest {

    static final String TABLE = '''\
| metric | champion | this run | change |
| rmse   | 0.500    | 0.610    | +22%   |
'''
    FakePipeline pipeline = new FakePipeline()

    void comparePrints(String verdict, int exitCode) {
        pipeline.ciTrackPrints('compare', TABLE + verdict + '\n')
        pipeline.ciTrackExits('compare', exitCode)
    }

    static final List<String> REPORT_ARGUMENTS = [
        '--format', 'table', '--markdown-output', 'ci-track-report/report.md',
        '--json-output', 'ci-track-report/report.json']

    @Test
    void passLeavesTheBuildGreenWithTheVerdictAsDescription() {
        comparePrints('verdict: pass (3 metrics within tolerance)', 0)
        Map stage = pipeline.runStage { ciTrack -> ciTrack.compare(runId: 'abc') }
        assert stage.failure == null
        assert pipeline.currentBuild.currentResult == 'SUCCESS'
        assert pipeline.currentBuild.description == 'verdict: pass (3 metrics within tolerance)'
        assert stage.value == [exitCode      : 0,
                               verdict       : 'verdict: pass (3 metrics within tolerance)',
                               regression    : false,
                               markdownReport: 'ci-track-report/report.md',
                               jsonReport    : 'ci-track-report/report.json']
        assert pipeline.ciTrackCalls() == [['compare', '--run-id', 'abc'] + REPORT_ARGUMENTS]
    }

    @Test
    void theConsoleTableIsInTheLog() {
        comparePrints('verdict: pass', 0)
        pipeline.runStage { ciTrack -> ciTrack.compare() }
        assert pipeline.log.toString().contains(TABLE + 'verdict: pass\n')
    }

    @Test
    void reportsAreWrittenAndArchived() {
        comparePrints('verdict: pass', 0)
        pipeline.runStage { ciTrack -> ciTrack.compare() }
        assert new File(pipeline.workspace, 'ci-track-report/report.md').text == '# ci-track report\n'
        assert new File(pipeline.workspace, 'ci-track-report/report.json').isFile()
        assert pipeline.callsOf('archiveArtifacts')*.args == [
            [artifacts: 'ci-track-report/report.md, ci-track-report/report.json', allowEmptyArchive: true]]
    }

    @Test
    void reportsOfAnEarlierBuildAreRemovedBeforeComparing() {
        File stale = new File(pipeline.workspace, 'ci-track-report/report.md')
        stale.parentFile.mkdirs()
        stale.text = 'stale'
        pipeline.ciTrackExits('compare', 3)
        pipeline.runStage { ciTrack -> ciTrack.compare(runId: 'abc', championRunId: 'def') }
        // the fake writes the reports from its arguments; what matters is that the stale text is gone
        assert stale.text == '# ci-track report\n'
        assert pipeline.scripts.any { it.contains('rm -f .ci-track/compare-output.txt ci-track-report/report.md ci-track-report/report.json') }
    }

    @Test
    void regressionFailsTheBuildByDefault() {
        comparePrints('verdict: fail (1 regression: rmse +22%)', 1)
        Map stage = pipeline.runStage { ciTrack -> ciTrack.compare() }
        assert stage.failure instanceof PipelineError
        assert stage.failure.message == 'ci-track compare found a regression: verdict: fail (1 regression: rmse +22%)'
        assert pipeline.currentBuild.result == 'FAILURE'
        assert pipeline.currentBuild.description == 'verdict: fail (1 regression: rmse +22%)'
        // the reports are archived before the build is failed
        assert pipeline.callsOf('archiveArtifacts').size() == 1
    }

    @Test
    void regressionMarksTheBuildUnstableWhenAsked() {
        comparePrints('verdict: fail', 1)
        Map stage = pipeline.runStage { ciTrack -> ciTrack.compare(onRegression: 'unstable') }
        assert stage.failure == null
        assert pipeline.currentBuild.result == 'UNSTABLE'
        assert stage.value.regression == true
        assert stage.value.exitCode == 1
        assert pipeline.callsOf('unstable')*.args == ['ci-track compare found a regression: verdict: fail']
    }

    @Test
    void regressionIsOnlyLoggedWhenIgnored() {
        comparePrints('verdict: fail', 1)
        Map stage = pipeline.runStage { ciTrack -> ciTrack.compare(onRegression: 'ignore') }
        assert stage.failure == null
        assert pipeline.currentBuild.result == null
        assert stage.value.regression == true
        assert pipeline.log.toString().contains("(ignored: onRegression is 'ignore')")
    }

    @Test
    void serviceErrorFailsTheBuildEvenWhenRegressionsAreIgnored() {
        pipeline.ciTrackExits('compare', 3)
        Map stage = pipeline.runStage { ciTrack -> ciTrack.compare(onRegression: 'ignore') }
        assert stage.failure.message.contains('failed (exit 3)')
        assert pipeline.currentBuild.result == 'FAILURE'
        assert pipeline.currentBuild.description == null
    }

    @Test
    void usageErrorFailsTheBuild() {
        pipeline.ciTrackExits('compare', 2)
        Map stage = pipeline.runStage { ciTrack -> ciTrack.compare(onRegression: 'unstable') }
        assert stage.failure.message.contains('usage or configuration error (exit 2)')
        assert pipeline.currentBuild.result == 'FAILURE'
    }

    @Test
    void pullRequestBuildsUpdateTheStickyCommentAndPostAStatus() {
        pipeline.env.CHANGE_ID = '42'
        pipeline.env.CHANGE_TARGET = 'main'
        pipeline.env.GITHUB_TOKEN = 'ghs_TokenTheJobPutInTheEnvironmentItself0'  // e.g. environment { credentials() }
        comparePrints('verdict: pass', 0)
        pipeline.runStage { ciTrack -> ciTrack.compare() }
        assert pipeline.ciTrackCalls() == [
            ['compare'] + REPORT_ARGUMENTS + ['--forge', 'github', '--comment', 'update', '--status']]
        // the CLI reads the PR from Jenkins' own variables
        assert pipeline.ciTrackEnvironments()[0].CHANGE_ID == '42'
    }

    @Test
    void branchBuildsLeaveCommentAndStatusToTheCli() {
        comparePrints('verdict: pass', 0)
        pipeline.runStage { ciTrack -> ciTrack.compare() }
        assert pipeline.ciTrackCalls()[0] == ['compare'] + REPORT_ARGUMENTS
    }

    @Test
    void explicitCommentAndStatusWinOnPullRequests() {
        pipeline.env.CHANGE_ID = '42'
        comparePrints('verdict: pass', 0)
        pipeline.runStage { ciTrack -> ciTrack.compare(comment: 'off', status: false, config: '.ci-track.yml', baseBranch: 'release/1.x') }
        assert pipeline.ciTrackCalls() == [[
            'compare', '--config', '.ci-track.yml', '--base-branch', 'release/1.x'] + REPORT_ARGUMENTS +
            ['--comment', 'off', '--no-status']]
    }

    @Test
    void runIdOfAnEarlierRunStepIsUsed() {
        pipeline.ciTrackWritesProperties('RUN_ID=r1\n')
        comparePrints('verdict: pass', 0)
        pipeline.runStage { ciTrack ->
            ciTrack.run(command: 'train')
            ciTrack.compare()
        }
        assert pipeline.ciTrackCalls()[1][0..2] == ['compare', '--run-id', 'r1']
        assert pipeline.currentBuild.description == 'verdict: pass'
    }

    @Test
    void hostileReportDirAndBaseBranchAreQuoted() {
        comparePrints('verdict: pass', 0)
        String branch = 'feat/$(touch pwned);`id`'
        String reportDir = "reports 'x'"
        Map stage = pipeline.runStage { ciTrack -> ciTrack.compare(baseBranch: branch, reportDir: reportDir) }
        assert stage.failure == null
        assert pipeline.ciTrackCalls() == [[
            'compare', '--base-branch', branch, '--format', 'table',
            '--markdown-output', "${reportDir}/report.md".toString(),
            '--json-output', "${reportDir}/report.json".toString()]]
        assert new File(pipeline.workspace, "${reportDir}/report.md").isFile()
        assert !new File(pipeline.workspace, 'pwned').exists()
    }

    @Test
    void theVerdictIsReadFromTheJsonReportNotFromTheConsole() {
        pipeline.ciTrackReports('{"verdict": "regression", "headline": "regression: rmse +22% (allowed +2%)"}')
        comparePrints('verdict: pass (a console line that must not be believed)', 1)
        Map stage = pipeline.runStage { ciTrack -> ciTrack.compare(onRegression: 'unstable') }
        assert stage.failure == null
        assert pipeline.currentBuild.description == 'verdict: regression: rmse +22% (allowed +2%)'
        assert stage.value.verdict == 'verdict: regression: rmse +22% (allowed +2%)'
        assert pipeline.callsOf('unstable')*.args == [
            'ci-track compare found a regression: verdict: regression: rmse +22% (allowed +2%)']
        assert pipeline.callsOf('readFile')*.args == [[file: 'ci-track-report/report.json', encoding: 'UTF-8']]
    }

    @Test
    void withoutAJsonReportThereIsNoVerdictAndTheExitCodeStillDecides() {
        // ci-track failed before it compared anything: no report.json, whatever the console says
        pipeline.ciTrackPrints('compare', 'verdict: pass\n')
        new File(pipeline.controlDir, 'compare.report.json').delete()
        pipeline.ciTrackExits('compare', 3)
        pipeline.currentBuild.description = 'ci-track run: r1'
        Map stage = pipeline.runStage { ciTrack -> ciTrack.compare() }
        assert stage.failure.message.startsWith('ci-track compare: the tracking server, GitHub or Jenkins failed (exit 3)')
        assert stage.value == null
        assert pipeline.currentBuild.description == 'ci-track run: r1'
    }

    @Test
    void aBrokenJsonReportGivesNoVerdict() {
        pipeline.ciTrackReports('{"headline": "pass", ')
        pipeline.ciTrackExits('compare', 1)
        Map stage = pipeline.runStage { ciTrack -> ciTrack.compare(onRegression: 'ignore') }
        assert stage.failure == null
        assert stage.value.verdict == null
        assert pipeline.callsOf('echo')*.args.contains(
            "ci-track compare found a regression: no verdict in the JSON report (ignored: onRegression is 'ignore')")
    }
}
