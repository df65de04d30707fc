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
     * The RUN_ID line of ci-track.properties, or null. `ci-track run` writes that file
     * (ci_track/jenkins/properties.py, the format's one writer and reader); the step needs only the run
     * id, whose value is an MLflow run id (letters, digits, `_`, `-`: nothing java.util.Properties would
     * escape), so one anchored pattern reads it, with no second parser of the format here.
     */
    static String runIdOf(String propertiesText) {
        if (propertiesText == null) {
            return null
        }
        java.util.regex.Matcher match = propertiesText =~ /(?m)^RUN_ID=([A-Za-z0-9][A-Za-z0-9_-]{0,63})\r?$/
        return match.find() ? match.group(1) : null
    }

    /** The build description that lets `ci-track jenkins trigger` report the run id. */
    static String runDescription(String runId) {
        return "ci-track run: ${runId}".toString()
    }
}
