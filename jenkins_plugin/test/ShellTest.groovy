import static groovy.test.GroovyAssert.shouldFail

import io.citrack.Shell
import org.junit.Test

/** Quoting is checked by handing quoted words to real shells and reading back what they received. */
class ShellTest {

    static final List<String> HOSTILE = [
        "'; rm -rf / #",
        '$(id)',
        '`id`',
        '${HOME}',
        'a"b\'c\\d',
        'line one\nline two',
        'tab\there',
        '  leading and trailing  ',
        'ünïcødé ✓ 模型 \u202e',
        '*',
        '~',
        'A=b',
        '-n',
        '',
        "'",
        "''",
        '!event',
        '#comment',
        'a;b|c&d>e<f(g)h{i}j',
    ]

    /** The words `shell` receives for `words` quoted by Shell.join. */
    static List<String> roundTrip(String shell, List<String> words) {
        File script = File.createTempFile('quote', '.sh')
        script.deleteOnExit()
        script.setText('printf "%s\\0" ' + Shell.join(words) + '\n', 'UTF-8')
        ProcessBuilder builder = new ProcessBuilder([shell, script.path])
        builder.environment().put('LANG', 'C.UTF-8')
        Process process = builder.start()
        ByteArrayOutputStream out = new ByteArrayOutputStream()
        ByteArrayOutputStream err = new ByteArrayOutputStream()
        process.waitForProcessOutput(out, err)
        assert process.waitFor() == 0: err.toString('UTF-8')
        return (out.toString('UTF-8').split('\u0000', -1) as List).dropRight(1)
    }

    @Test
    void hostileWordsReachBashUnchanged() {
        assert roundTrip('bash', HOSTILE) == HOSTILE
    }

    @Test
    void hostileWordsReachDashUnchanged() {
        // Jenkins runs sh steps with /bin/sh, which is dash on Debian agents.
        assert roundTrip('dash', HOSTILE) == HOSTILE
    }

    @Test
    void plainWordsStayReadable() {
        assert Shell.join(['ci-track', 'compare', '--run-id', 'abc123', 'ci-track-report/report.md', 'a@b:c,d%e+f']) ==
            'ci-track compare --run-id abc123 ci-track-report/report.md a@b:c,d%e+f'
    }

    @Test
    void everythingElseIsSingleQuoted() {
        assert Shell.quote('') == "''"
        assert Shell.quote('a b') == "'a b'"
        assert Shell.quote('A=b') == "'A=b'"
        assert Shell.quote('~') == "'~'"
        assert Shell.quote("it's") == "'it'\"'\"'s'"
        assert Shell.quote('$(id)') == "'\$(id)'"
    }

    @Test
    void nullAndNulAreRefused() {
        assert shouldFail(IllegalArgumentException) { Shell.quote(null) }.message == 'cannot pass null to a shell command'
        assert shouldFail(IllegalArgumentException) { Shell.quote('a\u0000b') }.message ==
            'a shell argument cannot contain a NUL character'
    }

    @Test
    void captureStdoutKeepsTheExitStatusUnderSetE() {
        File dir = File.createTempDir()
        String command = Shell.join(['sh', '-c', 'echo verdict: fail; exit 1'])
        String script = Shell.captureStdout(command, 'out dir/stdout.txt', ['out dir'], ['old report.md'])
        new File(dir, 'old report.md').text = 'stale'
        File file = new File(dir, 'script.sh')
        file.text = script
        Process process = new ProcessBuilder(['bash', '-xe', file.path]).directory(dir).start()
        ByteArrayOutputStream out = new ByteArrayOutputStream()
        process.waitForProcessOutput(out, new ByteArrayOutputStream())
        assert process.waitFor() == 1
        assert out.toString() == 'verdict: fail\n'
        assert new File(dir, 'out dir/stdout.txt').text == 'verdict: fail\n'
        assert !new File(dir, 'old report.md').exists()
        dir.deleteDir()
    }
}
