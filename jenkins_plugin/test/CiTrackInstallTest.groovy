import org.junit.Test

/**
 * Where ci-track comes from: the agent's PATH, or a virtualenv the library installs into the
 * workspace, by default from the library's own repository at the revision Jenkins loaded.
 * python3 is a fake here (test/resources/fake-python3 records what pip was asked to install);
 * git is real. CiTrackSourceInstallIT does the same with a real pip.
 */
class CiTrackInstallTest {

    static final String REMOTE = 'https://git.example.com/acme/ci-track.git'
    static final String COMMIT = '0123456789abcdef0123456789abcdef01234567'

    FakePipeline pipeline = new FakePipeline(false)
    File fakePythonDir = new File(pipeline.root, 'python-bin')

    CiTrackInstallTest() {
        pipeline.installFake('fake-python3', new File(fakePythonDir, 'python3'))
        pipeline.extraPath = [fakePythonDir.path, '/usr/bin', '/bin']
        pipeline.ciTrackPrints('compare', 'verdict: pass\n')
    }

    List<String> pipInstalls() {
        File file = new File(pipeline.controlDir, 'pip-installs')
        return file.exists() ? (file.getText('UTF-8').split('\u0000') as List) : []
    }

    String venv(String dir = '.ci-track/venv') {
        return new File(pipeline.workspace, dir).path
    }

    /** A real Git repository with an annotated tag; returns [url, tag commit]. */
    List gitRepositoryWithTag(String tag) {
        File repository = new File(pipeline.root, 'library-repo')
        repository.mkdirs()
        Closure git = { List args ->
            Process process = (['git', '-C', repository.path, '-c', 'user.name=t', '-c', 'user.email=t@example.com'] + args).execute()
            String out = process.text
            assert process.waitFor() == 0
            out.trim()
        }
        git(['init', '-q'])
        git(['commit', '-q', '--allow-empty', '-m', 'tagged'])
        String tagged = git(['rev-parse', 'HEAD'])
        git(['tag', '-a', tag, '-m', tag])
        git(['commit', '-q', '--allow-empty', '-m', 'later'])
        return ["file://${repository.path}".toString(), tagged]
    }

    @Test
    void ciTrackOnPathIsUsedAsIs() {
        FakePipeline onPath = new FakePipeline()
        onPath.ciTrackPrints('compare', 'verdict: pass\n')
        onPath.runStage { ciTrack -> ciTrack.compare() }
        assert onPath.ciTrackExecutables() == [new File(onPath.binDir, 'ci-track').path]
        assert onPath.callsOf('libraryResource') == []
    }

    @Test
    void byDefaultCiTrackIsInstalledFromTheLibrarysOwnRepositoryAtTheLoadedRevision() {
        pipeline.libraryLoadedFrom(REMOTE, COMMIT)
        Map stage = pipeline.runStage { ciTrack -> ciTrack.compare() }
        assert stage.failure == null
        assert pipInstalls() == ["git+${REMOTE}@${COMMIT}".toString()]
        // the installer checks the new ci-track with --version, then the step runs it
        assert pipeline.ciTrackExecutables() == ["${venv()}/bin/ci-track".toString()] * 2
        assert pipeline.ciTrackCalls()*.getAt(0) == ['--version', 'compare']
        // the installer is the library's resource, written to the workspace
        assert pipeline.callsOf('libraryResource')*.args == ['io/citrack/install-ci-track.sh']
        assert new File(pipeline.workspace, '.ci-track/install-ci-track.sh').text ==
            new File(FakePipeline.LIBRARY_ROOT, 'resources/io/citrack/install-ci-track.sh').text
        // the configuration was looked up for this job, with the loaded version
        FakeLibraryResolver resolver = (FakeLibraryResolver) hudson.ExtensionList.registered[0]
        assert resolver.lookups == [[job: pipeline.currentBuild.rawBuild.parent, versions: ['ci-track': COMMIT]]]
    }

    @Test
    void aTagIsResolvedToTheCommitItNames() {
        List repository = gitRepositoryWithTag('v0.3.1')
        pipeline.libraryLoadedFrom(repository[0], 'v0.3.1')
        Map stage = pipeline.runStage { ciTrack -> ciTrack.promote(runId: 'r1') }
        assert stage.failure == null
        assert pipInstalls() == ["git+${repository[0]}@${repository[1]}".toString()]
        assert pipeline.log.toString().contains("ci-track: installing git+${repository[0]}@${repository[1]} into ")
    }

    @Test
    void theLibraryPathTellsWhereThePythonProjectIs() {
        pipeline.libraryLoadedFrom('git@git.example.com:acme/monorepo.git', COMMIT, 'tools/jenkins/')
        pipeline.runStage { ciTrack -> ciTrack.rollback() }
        assert pipInstalls() == ["git+ssh://git@git.example.com/acme/monorepo.git@${COMMIT}#subdirectory=tools".toString()]
    }

    @Test
    void theVirtualenvIsReusedWhileTheRequirementIsUnchanged() {
        pipeline.libraryLoadedFrom(REMOTE, COMMIT)
        pipeline.runStage { ciTrack ->
            ciTrack.compare()
            ciTrack.compare()
            ciTrack.compare(install: '/src/ci-track')
            ciTrack.compare(install: '/src/ci-track')
        }
        assert pipInstalls() == ["git+${REMOTE}@${COMMIT}".toString(), '/src/ci-track']
        assert pipeline.ciTrackCalls()*.getAt(0) == ['--version', 'compare', 'compare', '--version', 'compare', 'compare']
    }

    @Test
    void anExplicitRequirementIsInstalledEvenWhenCiTrackIsOnThePath() {
        FakePipeline onPath = new FakePipeline()
        onPath.installFake('fake-python3', new File(onPath.root, 'python-bin/python3'))
        onPath.extraPath = [new File(onPath.root, 'python-bin').path, '/usr/bin', '/bin']
        onPath.ciTrackPrints('compare', 'verdict: pass\n')
        String venvDir = new File(onPath.root, 'ct venv').path
        Map stage = onPath.runStage { ciTrack -> ciTrack.compare(install: 'ci-track==0.2.0', venvDir: venvDir) }
        assert stage.failure == null
        assert new File(onPath.controlDir, 'pip-installs').getText('UTF-8') == 'ci-track==0.2.0\u0000'
        assert onPath.ciTrackExecutables() == ["${venvDir}/bin/ci-track".toString()] * 2
    }

    @Test
    void withoutTheLibraryVersionVariableTheBuildFailsWithWhatToDo() {
        Map stage = pipeline.runStage { ciTrack -> ciTrack.compare() }
        assert stage.failure.message == "ciTrack.compare: cannot install ci-track from the library's source: " +
            "library.ci-track.version is not set (load the library as 'ci-track', with @Library('ci-track') or " +
            "library 'ci-track'); give install: a pip requirement, or put ci-track on the agent's PATH"
        assert pipInstalls() == []
    }

    @Test
    void withoutALibraryConfigurationTheBuildFailsWithWhatToDo() {
        pipeline.env['library.ci-track.version'] = 'main'
        Map stage = pipeline.runStage { ciTrack -> ciTrack.compare() }
        assert stage.failure.message == "ciTrack.compare: cannot install ci-track from the library's source: " +
            "no library named 'ci-track' is configured for this job; give install: a pip requirement, or put " +
            "ci-track on the agent's PATH"
    }

    @Test
    void installNoneFailsWithWhatToDo() {
        for (String none in ['none', 'never']) {
            FakePipeline bare = new FakePipeline(false)
            Map stage = bare.runStage { ciTrack -> ciTrack.compare(install: none) }
            assert stage.failure.message == "ciTrack.compare: ci-track is not on the agent's PATH and install is '${none}'; " +
                "install ci-track on the agent, or use install: 'auto' or a pip requirement"
            assert bare.currentBuild.result == 'FAILURE'
        }
    }

    @Test
    void aFailedInstallFailsTheBuild() {
        pipeline.libraryLoadedFrom(REMOTE, COMMIT)
        new File(pipeline.controlDir, 'pip.exit').text = '1\n'
        Map stage = pipeline.runStage { ciTrack -> ciTrack.promote(runId: 'r1') }
        assert stage.failure.message.startsWith(
            "ciTrack.promote: installing ci-track from ${REMOTE} at ${COMMIT} into ${venv()} failed (exit 1); ")
        assert pipeline.ciTrackCalls() == []
    }

    @Test
    void hostileVirtualenvDirAndRequirementAreQuoted() {
        String venvDir = "venv \$(touch pwned) 'x'"
        String requirement = "ci-track; touch pwned2 #\$(touch pwned3)"
        Map stage = pipeline.runStage { ciTrack -> ciTrack.compare(venvDir: venvDir, install: requirement) }
        assert stage.failure == null
        assert pipInstalls() == [requirement]
        assert pipeline.ciTrackExecutables() == [new File(pipeline.workspace, "${venvDir}/bin/ci-track").path] * 2
        assert !new File(pipeline.workspace, 'pwned').exists()
        assert !new File(pipeline.workspace, 'pwned2').exists()
        assert !new File(pipeline.workspace, 'pwned3').exists()
    }
}
