import org.junit.Test

/** Where ci-track comes from: the agent's PATH, or a virtualenv the library installs into the workspace. */
class CiTrackInstallTest {

    FakePipeline pipeline = new FakePipeline(false)
    File fakePythonDir = new File(pipeline.root, 'python-bin')

    FakePipeline withFakePython() {
        pipeline.installFake('fake-python3', new File(fakePythonDir, 'python3'))
        pipeline.extraPath = [fakePythonDir.path, '/usr/bin', '/bin']
        return pipeline
    }

    List<String> pipInstalls() {
        File file = new File(pipeline.controlDir, 'pip-installs')
        return file.exists() ? (file.getText('UTF-8').split('\u0000') as List) : []
    }

    @Test
    void ciTrackOnPathIsUsedAsIs() {
        FakePipeline onPath = new FakePipeline()
        onPath.ciTrackPrints('compare', 'verdict: pass\n')
        onPath.runStage { ciTrack -> ciTrack.compare() }
        assert onPath.ciTrackExecutables() == [new File(onPath.binDir, 'ci-track').path]
        assert !onPath.scripts.any { it.contains('-m venv') }
    }

    @Test
    void missingCiTrackIsInstalledIntoAWorkspaceVirtualenvAtThePinnedVersion() {
        withFakePython()
        pipeline.ciTrackPrints('compare', 'verdict: pass\n')
        Map stage = pipeline.runStage { ciTrack -> ciTrack.compare(version: '0.3.1') }
        assert stage.failure == null
        String venv = new File(pipeline.workspace, '.ci-track/venv').path
        assert pipInstalls() == ['ci-track==0.3.1']
        assert pipeline.ciTrackExecutables() == ["${venv}/bin/ci-track".toString()]
        assert pipeline.ciTrackCalls()[0][0] == 'compare'
    }

    @Test
    void theVirtualenvIsReusedWhileTheRequirementIsUnchanged() {
        withFakePython()
        pipeline.ciTrackPrints('compare', 'verdict: pass\n')
        pipeline.runStage { ciTrack ->
            ciTrack.compare()
            ciTrack.compare()
            ciTrack.compare(installFrom: '/src/ci-track')
        }
        assert pipInstalls() == ["ci-track==${io.citrack.Options.DEFAULT_VERSION}".toString(), '/src/ci-track']
        assert pipeline.ciTrackCalls().size() == 3
    }

    @Test
    void installNeverFailsWithWhatToDo() {
        Map stage = pipeline.runStage { ciTrack -> ciTrack.compare(install: 'never') }
        assert stage.failure.message == "ciTrack: ci-track is not on the agent's PATH and install is 'never'; " +
            "install ci-track on the agent or use install: 'auto'"
        assert pipeline.currentBuild.result == 'FAILURE'
    }

    @Test
    void aFailedInstallFailsTheBuild() {
        withFakePython()
        new File(pipeline.controlDir, 'pip.exit').text = '1\n'
        Map stage = pipeline.runStage { ciTrack -> ciTrack.promote(runId: 'r1') }
        assert stage.failure.message.startsWith("ciTrack: installing ci-track==${io.citrack.Options.DEFAULT_VERSION} into ")
        assert pipeline.ciTrackCalls() == []
    }

    @Test
    void hostileVirtualenvDirIsQuoted() {
        withFakePython()
        String venvDir = "venv \$(touch pwned) 'x'"
        pipeline.ciTrackPrints('compare', 'verdict: pass\n')
        Map stage = pipeline.runStage { ciTrack -> ciTrack.compare(venvDir: venvDir) }
        assert stage.failure == null
        assert pipeline.ciTrackExecutables() == [new File(pipeline.workspace, "${venvDir}/bin/ci-track").path]
        assert !new File(pipeline.workspace, 'pwned').exists()
    }
}
