import java.lang.reflect.Method
import java.lang.reflect.Modifier
import org.junit.Test

/**
 * The steps ciTrackRun, ciTrackCompare, ciTrackPromote and ciTrackRollback (callable in declarative
 * steps { } without script { }) do exactly what ciTrack.run ... do; the ciTrack global exposes only
 * its documented methods; every step has its help page.
 */
class DeclarativeStepsTest {

    static final List<String> STEPS = ['ciTrackRun', 'ciTrackCompare', 'ciTrackPromote', 'ciTrackRollback']

    /** Runs `body` in a fresh pipeline; returns [argv of each ci-track call, step calls, build description]. */
    static Map recorded(Closure body) {
        FakePipeline pipeline = new FakePipeline()
        pipeline.ciTrackWritesProperties('RUN_ID=r1\n')
        pipeline.ciTrackPrints('compare', 'verdict: pass\n')
        Map stage = pipeline.runStage(body)
        assert stage.failure == null
        return [argv       : pipeline.ciTrackCalls(),
                steps      : pipeline.calls.findAll { it.name != 'sh' }.collect { it.name },
                description: pipeline.currentBuild.description,
                value      : stage.value,
                runId      : pipeline.env.CI_TRACK_RUN_ID]
    }

    @Test
    void ciTrackRunIsCiTrackDotRun() {
        Map config = [command: ['python', 'train.py', '$(id)'], experiment: 'churn', tags: [team: 'ml']]
        Map viaStep = recorded { ciTrack -> step('ciTrackRun').call(config) }
        assert viaStep == recorded { ciTrack -> ciTrack.run(config) }
        assert viaStep.argv == [['run', '--experiment', 'churn', '--tag', 'team=ml', '--', 'python', 'train.py', '$(id)']]
        assert viaStep.value == 'r1'
        assert viaStep.runId == 'r1'
    }

    @Test
    void ciTrackCompareIsCiTrackDotCompare() {
        Map viaStep = recorded { ciTrack -> step('ciTrackCompare').call(runId: 'abc', comment: 'off') }
        assert viaStep == recorded { ciTrack -> ciTrack.compare(runId: 'abc', comment: 'off') }
        assert viaStep.argv[0][0..2] == ['compare', '--run-id', 'abc']
        assert viaStep.value.verdict == 'verdict: pass'
        assert recorded { ciTrack -> step('ciTrackCompare').call() } == recorded { ciTrack -> ciTrack.compare() }
    }

    @Test
    void ciTrackPromoteIsCiTrackDotPromote() {
        Map viaStep = recorded { ciTrack -> step('ciTrackPromote').call(runId: 'r9', force: true) }
        assert viaStep == recorded { ciTrack -> ciTrack.promote(runId: 'r9', force: true) }
        assert viaStep.argv == [['promote', '--run-id', 'r9', '--force']]
        assert viaStep.description == 'ci-track run: r9 (promoted)'
    }

    @Test
    void ciTrackRollbackIsCiTrackDotRollback() {
        Map viaStep = recorded { ciTrack -> step('ciTrackRollback').call() }
        assert viaStep == recorded { ciTrack -> ciTrack.rollback() }
        assert viaStep.argv == [['rollback']]
    }

    @Test
    void theStepsRejectUnknownOptionsUnderTheirOwnName() {
        Map expected = [ciTrackRun: 'ciTrackRun: unknown option comand;', ciTrackCompare: 'ciTrackCompare: unknown option comand;',
                        ciTrackPromote: 'ciTrackPromote: unknown option comand;', ciTrackRollback: 'ciTrackRollback: unknown option comand;']
        for (String name in STEPS) {
            FakePipeline pipeline = new FakePipeline()
            Map stage = pipeline.runStep(name, [comand: 'train'])
            assert stage.failure instanceof PipelineError
            assert stage.failure.message.startsWith(expected[name])
            assert pipeline.ciTrackCalls() == []
            assert pipeline.currentBuild.result == 'FAILURE'
        }
    }

    @Test
    void theStepsTakeOneMapWithDefaults() {
        for (String name in STEPS) {
            Class type = new FakePipeline().step(name).getClass()
            List<String> signatures = publicMethods(type).findAll { it.name == 'call' }.collect { signature(it) }.sort()
            assert signatures == ['call()', 'call(Map)']
        }
    }

    @Test
    void theCiTrackGlobalExposesOnlyItsSteps() {
        Class type = new FakePipeline().ciTrack.getClass()
        List<String> signatures = publicMethods(type).collect { signature(it) }.sort()
        assert signatures == ['compare()', 'compare(Map)', 'promote()', 'promote(Map)',
                              'rollback()', 'rollback(Map)', 'run(Map)']
    }

    @Test
    void everyGlobalVariableHasAnHtmlHelpPage() {
        File vars = new File(FakePipeline.LIBRARY_ROOT, 'vars')
        List<String> globals = vars.listFiles().findAll { it.name.endsWith('.groovy') }*.name.collect { it - '.groovy' }.sort()
        assert globals == (['ciTrack'] + STEPS).sort()
        for (String name in globals) {
            File help = new File(vars, "${name}.txt")
            assert help.isFile(), "no help page ${help}"
            String text = help.getText('UTF-8')
            // Jenkins shows it with the configured markup formatter: an HTML fragment, well-formed here
            new XmlSlurper().parseText("<div>${text.replace('&nbsp;', '&#160;')}</div>")
            if (name != 'ciTrack') {
                assert text.contains("<code>${name}(") || text.contains("${name}("), "${help} does not show a call of ${name}"
                assert text.contains('steps {'), "${help} has no declarative example"
            }
        }
    }

    /** Public methods the script declares itself (not Script's own run(), main or Groovy's generated ones). */
    static List<Method> publicMethods(Class type) {
        return type.declaredMethods.findAll { Method method ->
            Modifier.isPublic(method.modifiers) && !method.synthetic && !method.name.contains('$') &&
                !(method.name == 'main' && Modifier.isStatic(method.modifiers)) &&
                !(method.name == 'run' && method.parameterCount == 0)
        }
    }

    static String signature(Method method) {
        return "${method.name}(${method.parameterTypes*.simpleName.join(', ')})".toString()
    }
}
