import groovy.json.JsonOutput
import hudson.ExtensionList
import java.nio.file.Files

/**
 * A pipeline run for testing the library's vars/ steps outside Jenkins.
 *
 * It loads the vars/ scripts (the ciTrack global, the ciTrackRun ... steps) with the pipeline steps
 * they use (sh, echo, error, unstable, withEnv, withCredentials, string, usernamePassword,
 * archiveArtifacts, junit, readFile, writeFile, fileExists, libraryResource) and the `env` and
 * `currentBuild` globals bound in their Binding. Every step call is recorded. `sh` runs the
 * script with a real shell (`bash -xe`, as Jenkins runs `sh -xe`) in a temporary workspace whose
 * PATH starts with a fake `ci-track` (test/resources/fake-ci-track) that records its argv, so tests
 * assert the exact arguments a real program received.
 */
class FakePipeline {

    static final File LIBRARY_ROOT = findLibraryRoot()

    final File root = createRoot()
    final File workspace = new File(root, 'workspace')
    final File binDir = new File(root, 'bin')
    final File controlDir = new File(root, 'fake-ci-track')
    final File home = new File(root, 'home')

    /** The Jenkins `env` global: the build's environment, also given to every sh step. */
    final Map env = [:]
    final FakeBuild currentBuild = new FakeBuild()
    /** Every step call, in order: [name: 'sh', args: [...]]. */
    final List<Map> calls = []
    /** The text of every sh script, in order. */
    final List<String> scripts = []
    final StringBuilder log = new StringBuilder()
    /** Jenkins credentials by id: a String (secret text) or [username: .., password: ..]. */
    final Map credentials = [:]
    /** The shell that runs sh steps. */
    String shell = 'bash'
    /** Directories searched after binDir (the fake python3 test puts its own first). */
    List<String> extraPath = ['/usr/bin', '/bin']

    private boolean reportSetByTest = false
    private final List<Map> environmentStack = []
    private final Binding binding = new Binding()
    private final Map<String, Script> loadedSteps = [:]

    FakePipeline(boolean ciTrackOnPath = true) {
        workspace.mkdirs()
        binDir.mkdirs()
        controlDir.mkdirs()
        home.mkdirs()
        if (ciTrackOnPath) {
            installFake('fake-ci-track', new File(binDir, 'ci-track'))
        }
        env.WORKSPACE = workspace.path
        env.BUILD_URL = 'https://jenkins.example.com/job/model/1/'
        env.BUILD_NUMBER = '1'
        env.JOB_NAME = 'model'
        bindSteps(binding)
        // No library configurations unless a test configures one (libraryLoadedFrom).
        ExtensionList.registered.clear()
    }

    /** A temporary directory (under -Dcitrack.tmpdir when given), deleted when the JVM exits. */
    static File createRoot() {
        String base = System.getProperty('citrack.tmpdir')
        File root = base ? Files.createTempDirectory(new File(base).toPath(), 'pipeline').toFile()
                         : Files.createTempDirectory('citrack-pipeline').toFile()
        Runtime.runtime.addShutdownHook(new Thread({ root.deleteDir() }))
        return root
    }

    static File findLibraryRoot() {
        File candidate = new File(System.getProperty('citrack.library.root', '.')).canonicalFile
        if (!new File(candidate, 'vars/ciTrack.groovy').isFile()) {
            throw new IllegalStateException(
                "run the tests from jenkins_plugin/ (or set -Dcitrack.library.root): no vars/ciTrack.groovy in ${candidate}")
        }
        return candidate
    }

    File installFake(String resource, File target) {
        target.parentFile.mkdirs()
        target.bytes = new File(LIBRARY_ROOT, "test/resources/${resource}").bytes
        target.setExecutable(true)
        return target
    }

    // ---- configuring the fake ci-track ----

    /**
     * What `ci-track SUBCOMMAND` prints. For compare, the JSON report it writes (--json-output) gets
     * the same verdict, as the real CLI's does, unless a test sets its own with ciTrackReports.
     */
    void ciTrackPrints(String subcommand, String stdout) {
        new File(controlDir, "${subcommand}.stdout").setText(stdout, 'UTF-8')
        String verdictLine = stdout.readLines().find { it.startsWith('verdict: ') }
        if (subcommand == 'compare' && verdictLine && !reportSetByTest) {
            String headline = verdictLine.substring('verdict: '.length())
            new File(controlDir, 'compare.report.json').setText(JsonOutput.toJson([headline: headline]), 'UTF-8')
        }
    }

    /** The JSON report `ci-track compare` writes: exactly this text. */
    void ciTrackReports(String json) {
        reportSetByTest = true
        new File(controlDir, 'compare.report.json').setText(json, 'UTF-8')
    }

    void ciTrackExits(String subcommand, int code) {
        new File(controlDir, "${subcommand}.exit").text = "${code}\n"
    }

    void ciTrackWritesProperties(String text) {
        new File(controlDir, 'run.properties').setText(text, 'UTF-8')
    }

    /** The argv of each ci-track invocation, in order. */
    List<List<String>> ciTrackCalls() {
        return recorded('argv')
    }

    /** The ci-track environment variables each invocation saw, as maps. */
    List<Map> ciTrackEnvironments() {
        return recorded('env').collect { List<String> pairs ->
            pairs.collectEntries { String pair ->
                int index = pair.indexOf('=')
                [(pair.substring(0, index)): pair.substring(index + 1)]
            }
        }
    }

    /** The executable path each invocation ran as. */
    List<String> ciTrackExecutables() {
        File calls = new File(controlDir, 'calls')
        int count = calls.isDirectory() ? calls.listFiles().count { it.name.endsWith('.exe') } : 0
        return (1..<(count + 1)).collect { new File(calls, "${it}.exe").getText('UTF-8') }
    }

    private List<List<String>> recorded(String suffix) {
        File calls = new File(controlDir, 'calls')
        if (!calls.isDirectory()) {
            return []
        }
        int count = calls.listFiles().count { it.name.endsWith('.argv') }
        return (1..<(count + 1)).collect { int number ->
            String text = new File(calls, "${number}.${suffix}").getText('UTF-8')
            text.isEmpty() ? [] : (text.split('\u0000', -1) as List).dropRight(1)
        }
    }

    List<Map> callsOf(String name) {
        return calls.findAll { it.name == name }
    }

    // ---- the library as Jenkins loaded it ----

    /**
     * Configure the library as Jenkins would have loaded it: a library named `name` retrieved from
     * the Git repository `remote` (Modern SCM, with `libraryPath`), loaded at `version`. Sets
     * `library.NAME.version` in the environment (as LibrariesAction does) and registers the
     * configuration with the LibraryResolver extensions that LibrarySource looks it up in.
     */
    void libraryLoadedFrom(String remote, String version, String libraryPath = 'jenkins_plugin/', String name = 'ci-track') {
        env["library.${name}.version".toString()] = version
        Map configuration = [name: name, retriever: [scm: [remote: remote], libraryPath: libraryPath]]
        ExtensionList.registered.add(new FakeLibraryResolver([configuration]))
    }

    // ---- running steps ----

    /** The vars/ script `name` (the ciTrack global, ciTrackRun ...), loaded once with the stub steps bound. */
    Script step(String name) {
        if (!loadedSteps.containsKey(name)) {
            GroovyShell groovyShell = new GroovyShell(getClass().classLoader, binding)
            loadedSteps[name] = groovyShell.parse(new File(LIBRARY_ROOT, "vars/${name}.groovy"))
        }
        return loadedSteps[name]
    }

    /** The ciTrack global. */
    Script getCiTrack() {
        return step('ciTrack')
    }

    /** Run the step `name` (ciTrackRun ...) with `config` as the only statement of a stage. */
    Map runStep(String name, Map config) {
        return runStage { ciTrack -> step(name).call(config) }
    }

    /**
     * Run `body` (which calls ciTrack steps) the way Jenkins runs a stage: an exception that
     * escapes marks the build FAILURE. Returns [value: .., failure: Throwable or null].
     */
    Map runStage(Closure body) {
        body.delegate = this
        try {
            return [value: body.call(getCiTrack()), failure: null]
        } catch (Throwable failure) {
            currentBuild.worsen('FAILURE')
            log.append("ERROR: ${failure.message}\n")
            return [value: null, failure: failure]
        }
    }

    private void bindSteps(Binding binding) {
        binding.setVariable('env', env)
        binding.setVariable('currentBuild', currentBuild)
        binding.setVariable('sh', { Object arguments -> sh(arguments) })
        binding.setVariable('echo', { Object message ->
            calls.add([name: 'echo', args: message.toString()])
            log.append(message.toString()).append('\n')
        })
        binding.setVariable('error', { Object message ->
            calls.add([name: 'error', args: message.toString()])
            throw new PipelineError(message.toString())
        })
        binding.setVariable('unstable', { Object arguments ->
            String message = arguments instanceof Map ? arguments.message : arguments.toString()
            calls.add([name: 'unstable', args: message])
            log.append("WARNING: ${message}\n")
            currentBuild.worsen('UNSTABLE')
        })
        binding.setVariable('writeFile', { Map arguments ->
            calls.add([name: 'writeFile', args: arguments])
            File file = resolve(arguments.file.toString())
            file.parentFile.mkdirs()  // as writeFile does
            file.setText(arguments.text.toString(), (String) (arguments.encoding ?: 'UTF-8'))
        })
        binding.setVariable('libraryResource', { Object arguments ->
            String resource = arguments instanceof Map ? arguments.resource : arguments.toString()
            calls.add([name: 'libraryResource', args: resource])
            File file = new File(LIBRARY_ROOT, "resources/${resource}")
            if (!file.isFile()) {
                throw new PipelineError("No such library resource ${resource} could be found.")
            }
            file.getText('UTF-8')
        })
        binding.setVariable('junit', { Map arguments ->
            calls.add([name: 'junit', args: arguments])
        })
        binding.setVariable('archiveArtifacts', { Object arguments ->
            calls.add([name: 'archiveArtifacts', args: arguments instanceof Map ? arguments : [artifacts: arguments]])
        })
        binding.setVariable('fileExists', { Object path ->
            calls.add([name: 'fileExists', args: path.toString()])
            resolve(path.toString()).exists()
        })
        binding.setVariable('readFile', { Object arguments ->
            Map named = arguments instanceof Map ? arguments : [file: arguments]
            calls.add([name: 'readFile', args: named])
            File file = resolve(named.file.toString())
            if (!file.isFile()) {
                throw new FileNotFoundException("${file} does not exist")
            }
            file.getText((String) (named.encoding ?: 'UTF-8'))
        })
        binding.setVariable('withEnv', { List variables, Closure body ->
            calls.add([name: 'withEnv', args: variables.collect { it.toString() }])
            Map overlay = variables.collectEntries { Object entry ->
                String text = entry.toString()
                int index = text.indexOf('=')
                [(text.substring(0, index)): text.substring(index + 1)]
            }
            withEnvironment(overlay, body)
        })
        binding.setVariable('string', { Map arguments -> [type: 'string'] + arguments })
        binding.setVariable('usernamePassword', { Map arguments -> [type: 'usernamePassword'] + arguments })
        binding.setVariable('withCredentials', { List bindings, Closure body ->
            calls.add([name: 'withCredentials', args: bindings])
            withEnvironment(credentialVariables(bindings), body)
        })
    }

    /** Resolve the bindings as Jenkins does, failing the same way on a missing or mistyped id. */
    private Map credentialVariables(List bindings) {
        Map variables = [:]
        for (Map binding in bindings) {
            String id = binding.credentialsId
            if (!credentials.containsKey(id)) {
                throw new PipelineError("Could not find credentials entry with ID '${id}'")
            }
            Object secret = credentials[id]
            if (binding.type == 'string') {
                if (!(secret instanceof String)) {
                    throw new PipelineError("Credentials '${id}' is of type 'Username with password' " +
                                            "where 'StringCredentials' was expected")
                }
                variables[binding.variable] = secret
            } else {
                if (!(secret instanceof Map)) {
                    throw new PipelineError("Credentials '${id}' is of type 'Secret text' " +
                                            "where 'StandardUsernamePasswordCredentials' was expected")
                }
                variables[binding.usernameVariable] = secret.username
                variables[binding.passwordVariable] = secret.password
            }
        }
        return variables
    }

    private Object withEnvironment(Map overlay, Closure body) {
        environmentStack.add(overlay)
        try {
            return body.call()
        } finally {
            environmentStack.remove(environmentStack.size() - 1)
        }
    }

    private File resolve(String path) {
        File file = new File(path)
        return file.isAbsolute() ? file : new File(workspace, path)
    }

    /** The sh step: run the script with a real shell; honour returnStatus and returnStdout. */
    private Object sh(Object arguments) {
        Map named = arguments instanceof Map ? arguments : [script: arguments]
        String script = named.script.toString()
        calls.add([name: 'sh', args: named])
        scripts.add(script)
        File scriptFile = File.createTempFile('script', '.sh', root)
        scriptFile.setText(script, 'UTF-8')
        ProcessBuilder builder = new ProcessBuilder([shell, '-xe', scriptFile.path])
        builder.directory(workspace)
        Map<String, String> processEnvironment = builder.environment()
        processEnvironment.clear()
        processEnvironment.put('PATH', ([binDir.path] + extraPath).join(':'))
        processEnvironment.put('HOME', home.path)
        processEnvironment.put('LANG', 'C.UTF-8')
        processEnvironment.put('FAKE_CI_TRACK_DIR', controlDir.path)
        processEnvironment.put('FAKE_CI_TRACK_BIN', new File(LIBRARY_ROOT, 'test/resources/fake-ci-track').path)
        env.each { key, value ->
            if (value != null) {
                processEnvironment.put(key.toString(), value.toString())
            }
        }
        for (Map overlay in environmentStack) {
            overlay.each { key, value -> processEnvironment.put(key.toString(), value.toString()) }
        }
        Process process = builder.start()
        ByteArrayOutputStream stdout = new ByteArrayOutputStream()
        ByteArrayOutputStream stderr = new ByteArrayOutputStream()
        process.waitForProcessOutput(stdout, stderr)
        int status = process.waitFor()
        String out = stdout.toString('UTF-8')
        log.append(stderr.toString('UTF-8'))
        if (named.returnStdout) {
            return out
        }
        log.append(out)
        if (named.returnStatus) {
            return status
        }
        if (status != 0) {
            throw new PipelineError("script returned exit code ${status}")
        }
        return null
    }
}
