import org.junit.Test

/** ciTrack.promote and ciTrack.rollback. */
class CiTrackPromoteTest {

    FakePipeline pipeline = new FakePipeline()

    @Test
    void promoteNamesTheRunAndForce() {
        Map stage = pipeline.runStage { ciTrack -> ciTrack.promote(runId: 'abc', force: true) }
        assert stage.failure == null
        assert stage.value == 'abc'
        assert pipeline.ciTrackCalls() == [['promote', '--run-id', 'abc', '--force']]
        assert pipeline.currentBuild.description == 'ci-track run: abc (promoted)'
    }

    @Test
    void promoteWithoutRunIdUsesTheRunOfThisBuildOrLetsTheCliChoose() {
        pipeline.runStage { ciTrack -> ciTrack.promote() }
        pipeline.env.CI_TRACK_RUN_ID = 'from-run-step'
        pipeline.runStage { ciTrack -> ciTrack.promote() }
        assert pipeline.ciTrackCalls() == [['promote'], ['promote', '--run-id', 'from-run-step']]
    }

    @Test
    void failedPromotionFailsTheBuild() {
        pipeline.ciTrackExits('promote', 3)
        Map stage = pipeline.runStage { ciTrack -> ciTrack.promote(runId: 'abc') }
        assert stage.failure.message.startsWith('ci-track promote: the tracking server, GitHub or Jenkins failed (exit 3)')
        assert pipeline.currentBuild.result == 'FAILURE'
        assert pipeline.currentBuild.description == null
    }

    @Test
    void rollbackRunsRollback() {
        Map stage = pipeline.runStage { ciTrack -> ciTrack.rollback() }
        assert stage.failure == null
        assert pipeline.ciTrackCalls() == [['rollback']]
    }

    @Test
    void failedRollbackFailsTheBuild() {
        pipeline.ciTrackExits('rollback', 2)
        Map stage = pipeline.runStage { ciTrack -> ciTrack.rollback([:]) }
        assert stage.failure.message.startsWith('ci-track rollback: usage or configuration error (exit 2)')
        assert pipeline.currentBuild.result == 'FAILURE'
    }

    @Test
    void rollbackRejectsCompareOptions() {
        Map stage = pipeline.runStage { ciTrack -> ciTrack.rollback(onRegression: 'fail') }
        assert stage.failure.message.startsWith('ciTrack.rollback: unknown option onRegression; valid options: ')
    }
}
