import io.citrack.Arguments
import io.citrack.Gate
import io.citrack.Options
import io.citrack.Shell

/*
 * ciTrack: track a training run in MLflow, compare it with the champion, promote or roll back,
 * from a Jenkins pipeline. The help page is ciTrack.txt; docs/jenkins.md has the full guide.
 *
 * These steps stay thin: option checking (Options), command lines (Arguments), quoting (Shell)
 * and decisions (Gate) are plain classes under src/ that are unit-tested without Jenkins.
 * Secrets never pass through Groovy strings: withCredentials puts them in the environment of the
 * sh step and ci-track reads them there, so no script text ever contains one.
 */

/**
 * `ci-track run`: create an MLflow run for this commit and run the training command (or an
 * MLproject entry point) attached to it. Returns the run id and sets env.CI_TRACK_RUN_ID, which
 * compare and promote use when they are not given a runId.
 */
String run(Map options) {
    Map opts = validated('run', options)
    String executable = ciTrackExecutable(opts)
    String propertiesPath = runPropertiesPath()
    // A ci-track.properties left by an earlier build in this workspace must not be read back as ours.
    String script = 'rm -f ' + Shell.quote(propertiesPath) + '\n' + Shell.join([executable] + Arguments.run(opts)) + '\n'
    // Named explicitly so the file is found even when the step runs inside dir(...).
    int status = withCiTrackEnvironment(opts, ['CI_TRACK_PROPERTIES_FILE=' + propertiesPath]) {
        sh(script: script, returnStatus: true, label: 'ci-track run')
    }
    String runId = readRunId(propertiesPath)
    if (runId) {
        env.CI_TRACK_RUN_ID = runId
        currentBuild.description = Gate.runDescription(runId)
        if (opts.archive) {
            archiveArtifacts(artifacts: 'ci-track.properties', allowEmptyArchive: true)
        }
    }
    if (status != 0) {
        error("ci-track run failed with exit code ${status} (the training command's own code, or ci-track's: " +
              "2 usage, 3 tracking server); see the log above${runId ? ', run ' + runId : ''}")
    }
    if (!runId) {
        echo "ciTrack.run: ci-track wrote no RUN_ID to ${propertiesPath}; compare and promote will look the run up themselves"
    }
    return runId
}

/**
 * `ci-track compare`: compare this build's run with the champion, print the table in the log,
 * archive report.md and report.json, put the verdict in the build description and gate the build
 * according to onRegression. Returns [exitCode, verdict, regression, markdownReport, jsonReport].
 */
Map compare(Map options) {
    Map opts = validated('compare', options)
    String runId = opts.runId ?: env.CI_TRACK_RUN_ID
    Map paths = Arguments.reportPaths(opts)
    String executable = ciTrackExecutable(opts)
    String command = Shell.join([executable] + Arguments.compare(opts, runId, env.CHANGE_ID))
    String script = Shell.captureStdout(command, paths.stdout, ['.ci-track', paths.directory],
                                        [paths.markdown, paths.json])
    int status = withCiTrackEnvironment(opts, []) {
        sh(script: script, returnStatus: true, label: 'ci-track compare')
    }
    String output = fileExists(paths.stdout) ? readFile(file: paths.stdout, encoding: 'UTF-8') : ''
    String verdict = Gate.verdictLine(output)
    if (opts.archive) {
        archiveArtifacts(artifacts: "${paths.markdown}, ${paths.json}", allowEmptyArchive: true)
    }
    if (verdict) {
        currentBuild.description = verdict
    }
    Map decision = Gate.decide(status, (String) opts.onRegression, verdict)
    if (decision.action == 'fail') {
        error((String) decision.message)
    } else if (decision.action == 'unstable') {
        unstable((String) decision.message)
    } else {
        echo((String) decision.message)
    }
    return [exitCode      : status,
            verdict       : verdict,
            regression    : status == Gate.REGRESSION,
            markdownReport: paths.markdown,
            jsonReport    : paths.json]
}

Map compare() {
    return compare([:])
}

/** `ci-track promote`: point the champion alias at the run (runId, else this build's run). */
String promote(Map options) {
    Map opts = validated('promote', options)
    String runId = opts.runId ?: env.CI_TRACK_RUN_ID
    int status = runCiTrack(opts, Arguments.promote(opts, runId), 'ci-track promote')
    if (status != 0) {
        error(Gate.failureMessage('promote', status))
    }
    if (runId) {
        currentBuild.description = Gate.runDescription(runId) + ' (promoted)'
    }
    return runId
}

String promote() {
    return promote([:])
}

/** `ci-track rollback`: point the champion alias back at the previous champion. */
void rollback(Map options) {
    Map opts = validated('rollback', options)
    int status = runCiTrack(opts, Arguments.rollback(opts), 'ci-track rollback')
    if (status != 0) {
        error(Gate.failureMessage('rollback', status))
    }
}

void rollback() {
    rollback([:])
}

// ---- helpers (public because CPS-transformed closures cannot always see private script methods) ----

/** Check the options of `step`; an unknown key or a wrong type fails the build with what to fix. */
Map validated(String step, Map options) {
    try {
        return Options.validate(step, options)
    } catch (IllegalArgumentException problem) {
        error(problem.message)
    }
    return null
}

/** Run `ci-track ARGS` with the credentials of `opts`; returns its exit status. */
int runCiTrack(Map opts, List arguments, String label) {
    String script = Shell.join([ciTrackExecutable(opts)] + arguments) + '\n'
    return withCiTrackEnvironment(opts, []) {
        sh(script: script, returnStatus: true, label: label)
    }
}

/**
 * `ci-track` when it is on the agent's PATH; otherwise (install: 'auto') the pinned version
 * installed into a virtualenv in the workspace, reused by later steps and builds.
 */
String ciTrackExecutable(Map opts) {
    if (sh(script: Shell.onPathScript('ci-track'), returnStatus: true, label: 'find ci-track') == 0) {
        return 'ci-track'
    }
    if (opts.install == 'never') {
        error("ciTrack: ci-track is not on the agent's PATH and install is 'never'; " +
              "install ci-track on the agent or use install: 'auto'")
    }
    String venv = workspacePath((String) opts.venvDir)
    String requirement = Options.requirement(opts)
    int status = sh(script: Shell.installScript(venv, (String) opts.python, requirement),
                    returnStatus: true, label: 'install ci-track')
    if (status != 0) {
        error("ciTrack: installing ${requirement} into ${venv} failed (exit ${status}); the agent needs " +
              "${opts.python} with the venv module and access to the package index, or put ci-track on PATH")
    }
    return venv + '/bin/ci-track'
}

/**
 * Run `body` with the tracking URI, GitHub API URL, credentials of `opts` and `extraVariables`
 * (NAME=value strings) in the environment. withCredentials masks the values in the log; nothing
 * here reads them.
 */
Object withCiTrackEnvironment(Map opts, List extraVariables, Closure body) {
    List variables = new ArrayList(extraVariables)
    if (opts.mlflowTrackingUri) {
        variables.add('MLFLOW_TRACKING_URI=' + opts.mlflowTrackingUri)
    }
    if (opts.githubApiUrl) {
        variables.add('GITHUB_API_URL=' + opts.githubApiUrl)
    }
    List bindings = []
    if (opts.mlflowCredentialsId) {
        if (opts.mlflowCredentialsType == 'usernamePassword') {
            bindings.add(usernamePassword(credentialsId: opts.mlflowCredentialsId,
                                          usernameVariable: 'MLFLOW_TRACKING_USERNAME',
                                          passwordVariable: 'MLFLOW_TRACKING_PASSWORD'))
        } else {
            bindings.add(string(credentialsId: opts.mlflowCredentialsId, variable: 'MLFLOW_TRACKING_TOKEN'))
        }
    }
    if (opts.githubCredentialsId) {
        if (opts.githubCredentialsType == 'usernamePassword') {
            // A GitHub App credential: the password is the installation token.
            bindings.add(usernamePassword(credentialsId: opts.githubCredentialsId,
                                          usernameVariable: 'CI_TRACK_GITHUB_USERNAME',
                                          passwordVariable: 'GITHUB_TOKEN'))
        } else {
            bindings.add(string(credentialsId: opts.githubCredentialsId, variable: 'GITHUB_TOKEN'))
        }
    }
    return withEnv(variables) {
        withCredentials(bindings) {
            body()
        }
    }
}

/** Where ci-track run writes ci-track.properties: the workspace root. */
String runPropertiesPath() {
    return workspacePath('ci-track.properties')
}

String workspacePath(String path) {
    if (path.startsWith('/') || !env.WORKSPACE) {
        return path
    }
    return "${env.WORKSPACE}/${path}".toString()
}

/** RUN_ID from ci-track.properties, or null when the file is missing or has none. */
String readRunId(String propertiesPath) {
    if (!fileExists(propertiesPath)) {
        return null
    }
    Map properties = Gate.parseProperties(readFile(file: propertiesPath, encoding: 'UTF-8'))
    return properties.RUN_ID ?: null
}
