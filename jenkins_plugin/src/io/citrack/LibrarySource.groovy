package io.citrack

/**
 * Where the library's own source comes from, so that a step can install ci-track from the same
 * repository and revision Jenkins loaded the library from (the default `install: 'auto'`).
 *
 * - The revision: Pipeline: Groovy Libraries sets `library.<name>.version` in the build's
 *   environment for every library it loaded (LibrariesAction.LibraryEnvironment): the version the
 *   Jenkinsfile asked for (`@Library('ci-track@v0.2.0')`) or the configured default version.
 * - The repository: Jenkins does not put it in the environment, so it is read from the library's
 *   configuration, which the same plugin resolves for the job (global, folder or other resolvers,
 *   looked up as it does itself: the first definition of the name wins). Its Git remote, and its
 *   Library Path: the Python project is the directory that holds the library path
 *   (`jenkins_plugin/` in this repository, whose root holds pyproject.toml).
 *
 * The Jenkins classes are looked up by name at run time, so this file compiles without Jenkins and
 * the pure parts (`describe`, `pipUrl`, `projectDirectory`) are unit-tested with plain maps.
 * Reading the configuration needs a trusted library (Global Trusted Pipeline Libraries): in the
 * Groovy sandbox it is refused and the step asks for an explicit `install:` instead.
 */
class LibrarySource implements Serializable {

    private static final long serialVersionUID = 1L

    /** The name docs/jenkins.md tells administrators to give the library. */
    static final String LIBRARY_NAME = 'ci-track'

    /** The environment variable holding the version Jenkins loaded library `name` at. */
    static String versionVariable(String name) {
        return "library.${name}.version".toString()
    }

    /**
     * The library configuration named `name` that applies to `job`, as LibraryAdder finds it:
     * every LibraryResolver extension, in order, first match wins. Throws IllegalStateException with
     * the reason when it cannot be read.
     */
    static Object configurationFor(Object job, String name, String version) {
        List resolvers
        try {
            ClassLoader loader = LibrarySource.classLoader
            Class resolverType = loader.loadClass('org.jenkinsci.plugins.workflow.libs.LibraryResolver')
            Class extensionList = loader.loadClass('hudson.ExtensionList')
            resolvers = (List) extensionList.getMethod('lookup', Class).invoke(null, resolverType)
        } catch (ClassNotFoundException | SecurityException problem) {
            throw new IllegalStateException("the library configurations cannot be read here (${problem})", problem)
        }
        Map versions = [(name): version]
        for (Object resolver in resolvers) {
            for (Object configuration in resolver.forJob(job, versions)) {
                if (configuration.name == name) {
                    return configuration
                }
            }
        }
        throw new IllegalStateException("no library named '${name}' is configured for this job")
    }

    /**
     * `[url: pip-usable Git URL, subdirectory: the Python project's directory in it ('' for the root)]`
     * of a library configuration (LibraryConfiguration: retriever SCMSourceRetriever with a Git
     * SCMSource, or the legacy SCMRetriever with a GitSCM). Throws IllegalArgumentException when the
     * library does not come from Git.
     */
    static Map describe(Object configuration) {
        Object retriever = propertyOf(configuration, 'retriever')
        Object scm = propertyOf(retriever, 'scm')
        // Modern SCM: GitSCMSource and GitHubSCMSource (AbstractGitSCMSource.getRemote()).
        Object remote = propertyOf(scm, 'remote')
        if (!remote) {
            // Legacy SCM: GitSCM and its user remote configs.
            List remotes = (List) propertyOf(scm, 'userRemoteConfigs')
            remote = remotes ? propertyOf(remotes[0], 'url') : null
        }
        if (!remote) {
            String type = scm == null ? 'no SCM' : scm.getClass().getName()
            throw new IllegalArgumentException("the library is not retrieved from a Git repository (${type})")
        }
        return [url         : pipUrl(remote.toString()),
                subdirectory: projectDirectory((String) propertyOf(retriever, 'libraryPath'))]
    }

    /**
     * A Git remote as pip's `git+` URLs need it: scp-like `user@host:path` becomes
     * `ssh://user@host/path`, and a local path becomes a file:// URL.
     */
    static String pipUrl(String remote) {
        String url = remote.trim()
        if (url.contains('://')) {
            return url
        }
        if (url.startsWith('/')) {
            return 'file://' + url
        }
        def scpLike = url =~ /^([^\/@:]+@)?([^\/:]+):(.+)$/
        if (scpLike.matches()) {
            String user = scpLike.group(1) ?: ''
            String path = scpLike.group(3)
            return "ssh://${user}${scpLike.group(2)}/${path.startsWith('/') ? path.substring(1) : path}".toString()
        }
        throw new IllegalArgumentException("the library's Git remote '${remote}' is not a URL pip can install from")
    }

    /** The directory that holds the library path ('jenkins_plugin/' -> '', 'tools/jenkins/' -> 'tools'). */
    static String projectDirectory(String libraryPath) {
        String path = (libraryPath ?: '').trim()
        while (path.endsWith('/')) {
            path = path.substring(0, path.length() - 1)
        }
        int slash = path.lastIndexOf('/')
        return slash < 0 ? '' : path.substring(0, slash)
    }

    /** A bean property (or map entry) of `owner`, or null when `owner` is null or has no such property. */
    private static Object propertyOf(Object owner, String name) {
        if (owner == null) {
            return null
        }
        if (owner instanceof Map) {
            return ((Map) owner).get(name)
        }
        try {
            return owner[name]
        } catch (MissingPropertyException ignored) {
            return null
        }
    }
}
