package io.citrack

import groovy.json.JsonException
import groovy.json.JsonSlurperClassic

/**
 * What a build does with ci-track's exit code and output: pure decisions, unit-tested with plain values.
 *
 * ci-track's exit codes: 0 pass, 1 regression, 2 usage/configuration, 3 service error
 * (the tracking server, GitHub or Jenkins failed), 4 internal error. Only a regression is subject
 * to `onRegression`; every other failure fails the build, because a gate that cannot decide must
 * not let a change through (it fails closed).
 */
class Gate implements Serializable {

    private static final long serialVersionUID = 1L

    static final int PASS = 0
    static final int REGRESSION = 1
    static final int USAGE = 2
    static final int SERVICE = 3
    static final int INTERNAL = 4
    static final int NOT_FOUND = 127

    /**
     * The verdict line of a JSON report written by `ci-track compare --json-output`:
     * "verdict: " + its headline (the same line the console report ends with), on one line; null
     * when the text is missing, is not JSON or has no headline.
     * JsonSlurperClassic, not JsonSlurper: its plain HashMaps can be kept in a CPS program's state.
     */
    static String verdictFromReport(String reportJson) {
        if (reportJson == null || reportJson.trim().isEmpty()) {
            return null
        }
        Object report
        try {
            report = new JsonSlurperClassic().parseText(reportJson)
        } catch (JsonException ignored) {
            return null
        }
        if (!(report instanceof Map)) {
            return null
        }
        Object headline = ((Map) report).headline ?: ((Map) report).verdict
        if (!(headline instanceof CharSequence)) {
            return null
        }
        // The build description is one line; drop control characters a headline could smuggle in.
        String line = headline.toString().replaceAll(/[\p{Cntrl}\u2028\u2029]+/, ' ').trim()
        return line ? "verdict: ${line}".toString() : null
    }

    /**
     * What to do after `ci-track compare` exited with `status`:
     * `[action: 'pass' | 'fail' | 'unstable' | 'ignore', message: String]`.
     */
    static Map decide(int status, String onRegression, String verdict) {
        String shown = verdict ?: 'no verdict in the JSON report'
        if (status == PASS) {
            return [action: 'pass', message: "ci-track compare: ${shown}".toString()]
        }
        if (status == REGRESSION) {
            String message = "ci-track compare found a regression: ${shown}".toString()
            if (onRegression == 'unstable') {
                return [action: 'unstable', message: message]
            }
            if (onRegression == 'ignore') {
                return [action: 'ignore', message: message + " (ignored: onRegression is 'ignore')"]
            }
            return [action: 'fail', message: message]
        }
        return [action: 'fail', message: failureMessage('compare', status)]
    }

    /** One line for a ci-track command that exited with a status other than 0 (and other than a regression). */
    static String failureMessage(String command, int status) {
        switch (status) {
            case REGRESSION:
                return "ci-track ${command} failed (exit 1)".toString()
            case USAGE:
                return "ci-track ${command}: usage or configuration error (exit 2); the message above says what to fix".toString()
            case SERVICE:
                return ("ci-track ${command}: the tracking server, GitHub or Jenkins failed (exit 3); " +
                        'the gate fails closed, see the message above').toString()
            case INTERNAL:
                return "ci-track ${command}: internal error (exit 4); the log names the file with the traceback".toString()
            case NOT_FOUND:
                return "ci-track ${command}: the ci-track executable was not found (exit 127)".toString()
            default:
                return "ci-track ${command} failed with exit code ${status}".toString()
        }
    }

    /**
     * Parse the `KEY=VALUE` lines of ci-track.properties (java.util.Properties syntax: `#`/`!`
     * comments, `=` or `:` separators, backslash escapes), without java.util.Properties so it also
     * runs in a sandboxed library.
     */
    static Map parseProperties(String text) {
        Map result = [:]
        if (text == null) {
            return result
        }
        for (String rawLine in text.readLines()) {
            String line = rawLine.trim()
            if (line.isEmpty() || line.startsWith('#') || line.startsWith('!')) {
                continue
            }
            int separator = -1
            for (int i = 0; i < line.length(); i++) {
                char c = line.charAt(i)
                if (c == ('\\' as char)) {
                    i++
                    continue
                }
                if (c == ('=' as char) || c == (':' as char)) {
                    separator = i
                    break
                }
            }
            String key = separator < 0 ? line : line.substring(0, separator)
            String value = separator < 0 ? '' : line.substring(separator + 1)
            result[unescape(key.trim())] = unescape(value.trim())
        }
        return result
    }

    private static String unescape(String text) {
        StringBuilder out = new StringBuilder()
        int i = 0
        while (i < text.length()) {
            char c = text.charAt(i)
            if (c != ('\\' as char) || i + 1 >= text.length()) {
                out.append(c)
                i++
                continue
            }
            String next = String.valueOf(text.charAt(i + 1))
            if (next == 'u' && i + 6 <= text.length() && text.substring(i + 2, i + 6) ==~ /[0-9a-fA-F]{4}/) {
                out.append((char) Integer.parseInt(text.substring(i + 2, i + 6), 16))
                i += 6
                continue
            }
            switch (next) {
                case 'n': out.append('\n'); break
                case 't': out.append('\t'); break
                case 'r': out.append('\r'); break
                case 'f': out.append('\f'); break
                default: out.append(next)
            }
            i += 2
        }
        return out.toString()
    }

    /** The build description that lets `ci-track jenkins trigger` report the run id. */
    static String runDescription(String runId) {
        return "ci-track run: ${runId}".toString()
    }
}
