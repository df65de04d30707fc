import io.citrack.Gate
import org.junit.Test

/** The decisions taken from ci-track's exit code and JSON report, and the ci-track.properties parser. */
class GateTest {

    @Test
    void theVerdictIsTheHeadlineOfTheJsonReport() {
        String report = '{"schema_version": 1, "verdict": "regression", "headline": "regression: rmse +7.1% (allowed +2%)"}'
        assert Gate.verdictFromReport(report) == 'verdict: regression: rmse +7.1% (allowed +2%)'
    }

    @Test
    void aReportWithoutHeadlineFallsBackToItsVerdictField() {
        assert Gate.verdictFromReport('{"verdict": "pass"}') == 'verdict: pass'
    }

    @Test
    void aMissingOrBrokenReportHasNoVerdict() {
        assert Gate.verdictFromReport(null) == null
        assert Gate.verdictFromReport('') == null
        assert Gate.verdictFromReport('{"headline": ') == null
        assert Gate.verdictFromReport('["a list"]') == null
        assert Gate.verdictFromReport('{"headline": 3}') == null
        assert Gate.verdictFromReport('{"headline": " "}') == null
    }

    @Test
    void theVerdictIsOneLine() {
        assert Gate.verdictFromReport('{"headline": "pass\nverdict: fake\u2028x\u0007"}') == 'verdict: pass verdict: fake x'
    }

    @Test
    void passPasses() {
        assert Gate.decide(0, 'fail', 'verdict: pass') == [action: 'pass', message: 'ci-track compare: verdict: pass']
    }

    @Test
    void regressionFollowsOnRegression() {
        assert Gate.decide(1, 'fail', 'verdict: fail').action == 'fail'
        assert Gate.decide(1, 'unstable', 'verdict: fail').action == 'unstable'
        Map ignored = Gate.decide(1, 'ignore', 'verdict: fail')
        assert ignored.action == 'ignore'
        assert ignored.message == "ci-track compare found a regression: verdict: fail (ignored: onRegression is 'ignore')"
    }

    @Test
    void errorsFailTheBuildWhateverOnRegressionSays() {
        for (String onRegression in ['fail', 'unstable', 'ignore']) {
            assert Gate.decide(2, onRegression, null).action == 'fail'
            assert Gate.decide(3, onRegression, null).action == 'fail'
            assert Gate.decide(4, onRegression, null).action == 'fail'
            assert Gate.decide(127, onRegression, null).action == 'fail'
        }
        assert Gate.decide(3, 'ignore', null).message.contains('the gate fails closed')
        assert Gate.decide(2, 'ignore', null).message.contains('usage or configuration error (exit 2)')
    }

    @Test
    void missingVerdictIsSaid() {
        assert Gate.decide(1, 'fail', null).message == 'ci-track compare found a regression: no verdict in the JSON report'
    }

    @Test
    void runIdIsReadFromTheProperties() {
        String text = '''# written by ci-track
EXPERIMENT_ID=1
RUN_ID=0123456789abcdef0123456789abcdef
RUN_URL=http://mlflow.example.com:5000/#/experiments/1/runs/0123456789abcdef0123456789abcdef
'''
        assert Gate.runIdOf(text) == '0123456789abcdef0123456789abcdef'
        assert Gate.runIdOf('RUN_ID=abc_DEF-1\r\n') == 'abc_DEF-1'
        // not a run id: a value with a shell or path character is refused, not half-read
        assert Gate.runIdOf('RUN_ID=abc;rm -rf /\n') == null
        assert Gate.runIdOf('# RUN_ID=abc\nXRUN_ID=abc\n') == null
        assert Gate.runIdOf('') == null
        assert Gate.runIdOf(null) == null
    }

    @Test
    void runDescriptionIsWhatTheTriggerReads() {
        assert Gate.runDescription('abc') == 'ci-track run: abc'
    }
}
