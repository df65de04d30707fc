import groovy.json.JsonSlurper
import org.junit.Test

/**
 * The default install for real: no ci-track on the agent, only the library loaded from a Git
 * repository. The step must install ci-track with real git and a real pip into a fresh virtualenv
 * from that repository, at the revision Jenkins loaded, and run it.
 *
 * Run by tests/e2e/test_jenkins_library.py (not part of the plain run_tests.groovy run, since it needs
 * a Python and a local package source), which passes, in the file -Dcitrack.it.properties names:
 *   citrack.it.repository  a Git repository holding this library's project (a clone of the checkout)
 *   citrack.it.tag         the tag Jenkins "loaded" the library at
 *   citrack.it.commit      the commit that tag names (the branch has moved on since)
 *   citrack.it.version     the ci-track version at that commit
 *   citrack.it.python      the python3 the agent has
 *   citrack.it.agentEnv    NAME=value lines, the agent's environment: PIP_* variables that let pip
 *                          use only this machine's package sources (no network) for the build
 *                          (setuptools), PIP_NO_DEPS and a PYTHONPATH holding the dependencies
 */
class CiTrackSourceInstallIT {

    static final Properties GIVEN = loadProperties()

    /** The properties file tests/e2e/test_jenkins_library.py writes (citrack.it.properties), else system properties. */
    static Properties loadProperties() {
        Properties properties = new Properties(System.properties)
        String file = System.getProperty('citrack.it.properties')
        if (file) {
            new File(file).withInputStream { properties.load(it) }
        }
        return properties
    }

    static String property(String name) {
        String value = GIVEN.getProperty("citrack.it.${name}")
        assert value, "citrack.it.${name} is not set: run this test through tests/e2e/test_jenkins_library.py"
        return value
    }

    @Test
    void theDefaultInstallBuildsCiTrackFromTheLoadedRevisionOfTheLibrarysRepository() {
        String url = "file://${property('repository')}".toString()
        FakePipeline pipeline = new FakePipeline(false)
        pipeline.libraryLoadedFrom(url, property('tag'), 'jenkins_plugin/')
        property('agentEnv').readLines().findAll { it.contains('=') }.each { String line ->
            int index = line.indexOf('=')
            pipeline.env[line.substring(0, index)] = line.substring(index + 1)
        }

        Map stage = pipeline.runStage { ciTrack -> ciTrack.rollback(python: property('python')) }

        String log = pipeline.log.toString()
        File venv = new File(pipeline.workspace, '.ci-track/venv')
        String requirement = "git+${url}@${property('commit')}".toString()
        assert log.contains("ci-track: installing ${requirement} into ${venv.path}"), log
        // the installer ran the new ci-track once (--version, its output in the log) ...
        assert log.contains("ci-track ${property('version')}\n"), log
        // ... and pip recorded where it came from: the repository, at the tag's commit
        File directUrl = new File(venv, 'lib').listFiles()[0].listFiles().find { it.name == 'site-packages' }
            .listFiles().find { it.name ==~ /ci_track-.*\.dist-info/ }.toPath().resolve('direct_url.json').toFile()
        Map origin = (Map) new JsonSlurper().parse(directUrl)
        assert origin.url == url
        assert origin.vcs_info == [vcs: 'git', commit_id: property('commit'), requested_revision: property('commit')]
        assert new File(venv, '.ci-track-requirement').text == requirement + '\n'
        // the ci_track that runs is the installed copy (the dependencies come from PYTHONPATH)
        Process module = ["${venv}/bin/python", '-c', 'import ci_track; print(ci_track.__file__)']
            .execute(["PYTHONPATH=${pipeline.env.PYTHONPATH}"], pipeline.workspace)
        assert module.text.trim().startsWith("${venv.path}/lib/")
        assert module.waitFor() == 0

        // the step then ran that ci-track: with no tracking server configured the real CLI refuses
        // (a one-line ci-track error, exit 2), and the step fails the build with what that means
        assert pipeline.ciTrackCalls() == []  // no fake anywhere
        assert log.contains('ci-track: error: '), log
        assert stage.failure?.message == io.citrack.Gate.failureMessage('rollback', 2), log
        Process version = ["${venv}/bin/ci-track", '--version'].execute()
        assert version.text.trim() == "ci-track ${property('version')}"
        assert version.waitFor() == 0
    }
}
