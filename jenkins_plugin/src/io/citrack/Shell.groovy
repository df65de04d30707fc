package io.citrack

/**
 * POSIX shell quoting and the few shell scripts the library runs (the installer is a resource:
 * resources/io/citrack/install-ci-track.sh).
 *
 * Every value that reaches a `sh` step goes through `quote`: a word made only of characters that
 * no POSIX shell treats specially stays as it is, anything else is wrapped in single quotes (with
 * each embedded single quote written as '"'"'). Inside single quotes nothing is special, so branch
 * names, experiment names, tags or commands containing `$(...)`, backticks, `;`, quotes, newlines
 * or any unicode reach the program as exactly one argument, byte for byte.
 * Raw values are never concatenated into a script.
 *
 * The scripts never mention a secret: credentials reach ci-track as environment variables set by
 * `withCredentials`, which ci-track reads itself.
 */
class Shell implements Serializable {

    private static final long serialVersionUID = 1L

    // No '=' (a leading NAME=value word would be an assignment) and no '~' (tilde expansion).
    private static final String SAFE_WORD = /[A-Za-z0-9_@%+:,.\/-]+/

    /** One shell word that the shell turns back into exactly `value`. */
    static String quote(Object value) {
        if (value == null) {
            throw new IllegalArgumentException('cannot pass null to a shell command')
        }
        String text = value.toString()
        if (text.indexOf('\u0000') >= 0) {
            throw new IllegalArgumentException('a shell argument cannot contain a NUL character')
        }
        if (text ==~ SAFE_WORD) {
            return text
        }
        return "'" + text.replace("'", "'\"'\"'") + "'"
    }

    /** A command line: every element quoted, joined by spaces. */
    static String join(List words) {
        List quoted = []
        for (Object word in words) {
            quoted.add(quote(word))
        }
        return quoted.join(' ')
    }

    /**
     * Run `command` with its stdout saved to `outputFile` and then printed, keeping its exit status.
     * `directories` are created first; `staleFiles` (outputs of an earlier build in the same
     * workspace) are removed so they can never be mistaken for this build's.
     * Jenkins runs `sh` scripts with `-xe`; `|| status=$?` keeps -e from stopping at a failure.
     */
    static String captureStdout(String command, String outputFile, List directories, List staleFiles) {
        List lines = []
        if (directories) {
            lines.add('mkdir -p ' + join(directories))
        }
        List toRemove = [outputFile]
        toRemove.addAll(staleFiles)
        lines.add('rm -f ' + join(toRemove))
        lines.add('status=0')
        lines.add(command + ' > ' + quote(outputFile) + ' || status=$?')
        lines.add('cat ' + quote(outputFile))
        lines.add('exit "$status"')
        return lines.join('\n') + '\n'
    }

    /** Exit status 0 when `program` is found on PATH. */
    static String onPathScript(String program) {
        return 'command -v ' + quote(program) + ' >/dev/null 2>&1\n'
    }
}
