package io.citrack

/**
 * The ci-track command lines each step runs, as argument lists (quoted later by Shell.join).
 *
 * Pure functions of the validated options and the few build facts they depend on, so the exact
 * command of every step is unit-tested without Jenkins.
 */
class Arguments implements Serializable {

    private static final long serialVersionUID = 1L

    /** Where `compare` writes its reports and its captured stdout (workspace-relative). */
    static Map reportPaths(Map options) {
        String directory = (String) options.reportDir
        return [
            directory: directory,
            markdown : directory + '/report.md',
            json     : directory + '/report.json',
            junit    : directory + '/junit.xml',
            stdout   : '.ci-track/compare-output.txt',
        ]
    }

    /** `ci-track run ...`: a training command after `--`, or an MLproject entry point. */
    static List run(Map options) {
        List args = ['run']
        if (options.experiment != null) {
            args.addAll(['--experiment', options.experiment])
        }
        if (options.entryPoint != null) {
            args.addAll(['--entry-point', options.entryPoint])
            Map params = (Map) options.params
            for (Object key in params.keySet()) {
                args.addAll(['-P', "${key}=${params[key]}".toString()])
            }
            if (options.projectDir != null) {
                args.addAll(['--project-dir', options.projectDir])
            }
        }
        if (options.runName != null) {
            args.addAll(['--run-name', options.runName])
        }
        for (Object path in (List) options.metricsFiles) {
            args.addAll(['--metrics-file', path])
        }
        Map tags = (Map) options.tags
        for (Object key in tags.keySet()) {
            args.addAll(['--tag', "${key}=${tags[key]}".toString()])
        }
        if (options.repeat != null) {
            args.addAll(['--repeat', options.repeat])
        }
        if (options.repeatMax != null) {
            args.addAll(['--repeat-max', String.valueOf(options.repeatMax)])
        }
        if (options.command != null) {
            args.add('--')
            if (options.command instanceof List) {
                // A list is an argv: no shell between ci-track and the program.
                args.addAll((List) options.command)
            } else {
                // A string is a shell command line written by the pipeline author, as with the sh step.
                args.addAll(['sh', '-c', options.command])
            }
        }
        return args
    }

    /**
     * `ci-track compare ...`. On multibranch pull-request builds (CHANGE_ID set) the CLI is asked to
     * update the sticky PR comment and post the commit status on `forge`, the same as the GitHub
     * Action does; `canPublish` false (no token for the forge, or forge 'none') turns both off, so a
     * build without credentials is judged by the gate alone and never fails for the missing token.
     */
    static List compare(Map options, String runId, String changeId, String forge = 'github', boolean canPublish = true) {
        Map paths = reportPaths(options)
        boolean pullRequest = changeId != null && !changeId.isEmpty()
        List args = ['compare']
        if (runId) {
            args.addAll(['--run-id', runId])
        }
        if (options.championRunId != null) {
            args.addAll(['--champion-run-id', options.championRunId])
        }
        if (options.config != null) {
            args.addAll(['--config', options.config])
        }
        if (options.baseBranch != null) {
            args.addAll(['--base-branch', options.baseBranch])
        }
        args.addAll(['--format', 'table', '--markdown-output', paths.markdown, '--json-output', paths.json])
        if (options.junit) {
            args.addAll(['--junit-output', paths.junit])
        }
        if (!canPublish) {
            args.addAll(['--comment', 'off', '--no-status'])
            return args
        }
        String comment = (String) options.comment
        if (pullRequest && !(comment == 'off' && options.status == false)) {
            args.addAll(['--forge', forge])
        }
        if (comment == 'auto') {
            if (pullRequest) {
                args.addAll(['--comment', 'update'])
            }
        } else {
            args.addAll(['--comment', comment])
        }
        if (options.status == null) {
            if (pullRequest) {
                args.add('--status')
            }
        } else {
            args.add(options.status ? '--status' : '--no-status')
        }
        return args
    }

    static List promote(Map options, String runId) {
        List args = ['promote']
        if (runId) {
            args.addAll(['--run-id', runId])
        }
        if (options.force) {
            args.add('--force')
        }
        return args
    }

    static List rollback(Map options) {
        return ['rollback']
    }
}
