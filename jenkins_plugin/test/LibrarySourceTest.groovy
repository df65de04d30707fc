import static groovy.test.GroovyAssert.shouldFail

import hudson.ExtensionList
import io.citrack.LibrarySource
import org.junit.Before
import org.junit.Test

/** Finding the library's own repository from its Jenkins configuration, with plain maps for the Jenkins objects. */
class LibrarySourceTest {

    @Before
    void noResolvers() {
        ExtensionList.registered.clear()
    }

    @Test
    void modernScmGitRemoteAndLibraryPath() {
        Map configuration = [name: 'ci-track', retriever: [scm: [remote: 'https://github.com/acme/ci-track.git'],
                                                           libraryPath: 'jenkins_plugin/']]
        assert LibrarySource.describe(configuration) == [url: 'https://github.com/acme/ci-track.git', subdirectory: '']
    }

    @Test
    void legacyScmUsesTheFirstUserRemoteConfig() {
        Map configuration = [retriever: [scm: [userRemoteConfigs: [[url: '/srv/git/ci-track.git'], [url: 'other']]]]]
        assert LibrarySource.describe(configuration) == [url: 'file:///srv/git/ci-track.git', subdirectory: '']
    }

    @Test
    void aLibraryNotFromGitIsRefused() {
        IllegalArgumentException problem = shouldFail(IllegalArgumentException) {
            LibrarySource.describe([retriever: [scm: new Object()]])
        }
        assert problem.message == 'the library is not retrieved from a Git repository (java.lang.Object)'
        assert shouldFail(IllegalArgumentException) { LibrarySource.describe([retriever: [:]]) }.message ==
            'the library is not retrieved from a Git repository (no SCM)'
    }

    @Test
    void remotesBecomeUrlsPipAccepts() {
        assert LibrarySource.pipUrl('https://github.com/acme/ci-track.git') == 'https://github.com/acme/ci-track.git'
        assert LibrarySource.pipUrl('ssh://git@host:2222/acme/x.git') == 'ssh://git@host:2222/acme/x.git'
        assert LibrarySource.pipUrl('git@github.com:acme/ci-track.git') == 'ssh://git@github.com/acme/ci-track.git'
        assert LibrarySource.pipUrl('host:/abs/repo') == 'ssh://host/abs/repo'
        assert LibrarySource.pipUrl(' /srv/repo ') == 'file:///srv/repo'
        assert shouldFail(IllegalArgumentException) { LibrarySource.pipUrl('relative/dir') }.message ==
            "the library's Git remote 'relative/dir' is not a URL pip can install from"
    }

    @Test
    void thePythonProjectIsTheDirectoryAboveTheLibraryPath() {
        assert LibrarySource.projectDirectory('jenkins_plugin/') == ''
        assert LibrarySource.projectDirectory(null) == ''
        assert LibrarySource.projectDirectory('tools/jenkins/') == 'tools'
        assert LibrarySource.projectDirectory('a/b/lib//') == 'a/b'
    }

    @Test
    void theFirstResolverOfferingTheNameWinsAsInLibraryAdder() {
        Map first = [name: 'ci-track', retriever: [scm: [remote: 'https://a/x.git']]]
        Map second = [name: 'ci-track', retriever: [scm: [remote: 'https://b/x.git']]]
        ExtensionList.registered.addAll([new FakeLibraryResolver([[name: 'other']]),
                                         new FakeLibraryResolver([first]), new FakeLibraryResolver([second])])
        assert LibrarySource.configurationFor([fullName: 'job'], 'ci-track', 'v1').is(first)
    }

    @Test
    void anUnconfiguredNameIsSaid() {
        ExtensionList.registered.add(new FakeLibraryResolver([[name: 'other']]))
        assert shouldFail(IllegalStateException) { LibrarySource.configurationFor([:], 'ci-track', 'v1') }.message ==
            "no library named 'ci-track' is configured for this job"
    }

    @Test
    void theVersionVariableIsTheOneLibrariesActionSets() {
        assert LibrarySource.versionVariable('ci-track') == 'library.ci-track.version'
    }
}
