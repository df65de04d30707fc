import static groovy.test.GroovyAssert.shouldFail

import io.citrack.Options
import org.junit.Test

/** Option maps are checked before anything runs: unknown keys, types, allowed values, defaults. */
class OptionsTest {

    @Test
    void unknownKeyIsRejectedWithTheListOfValidOptions() {
        IllegalArgumentException problem = shouldFail(IllegalArgumentException) {
            Options.validate('compare', [onRegresion: 'fail'])
        }
        assert problem.message.startsWith('ciTrack.compare: unknown option onRegresion; valid options: ')
        List valid = problem.message.split('valid options: ')[1].split(', ') as List
        assert valid.contains('onRegression')
        assert valid.contains('mlflowCredentialsId')
        assert valid == valid.sort(false)
    }

    @Test
    void severalUnknownKeysAreAllNamed() {
        IllegalArgumentException problem = shouldFail(IllegalArgumentException) {
            Options.validate('promote', [run: 'x', forced: true])
        }
        assert problem.message.startsWith('ciTrack.promote: unknown options run, forced; valid options: ')
    }

    @Test
    void defaultsAreFilledIn() {
        Map options = Options.validate('compare', [:])
        assert options.onRegression == 'fail'
        assert options.comment == 'auto'
        assert options.status == null
        assert options.reportDir == 'ci-track-report'
        assert options.install == 'auto'
        assert options.mlflowCredentialsType == 'token'
        assert options.archive == true
        assert options.runId == null
    }

    @Test
    void defaultCollectionsAreNotSharedBetweenCalls() {
        Map first = Options.validate('run', [command: 'true'])
        first.tags.put('x', 'y')
        assert Options.validate('run', [command: 'true']).tags == [:]
    }

    @Test
    void wrongTypeIsRejectedWithTheExpectedType() {
        IllegalArgumentException problem = shouldFail(IllegalArgumentException) {
            Options.validate('promote', [force: 'yes'])
        }
        assert problem.message == 'ciTrack.promote: option force must be a boolean, not a String'
        problem = shouldFail(IllegalArgumentException) {
            Options.validate('run', [command: 'true', tags: ['a', 'b']])
        }
        assert problem.message == 'ciTrack.run: option tags must be a map of strings, not a ArrayList'
    }

    @Test
    void valueOutsideTheAllowedSetIsRejected() {
        IllegalArgumentException problem = shouldFail(IllegalArgumentException) {
            Options.validate('compare', [onRegression: 'warn'])
        }
        assert problem.message == "ciTrack.compare: option onRegression must be one of fail, unstable, ignore, not 'warn'"
    }

    @Test
    void gStringsAreAcceptedAsStrings() {
        String branch = 'main'
        Map options = Options.validate('run', [command: "train --branch ${branch}", experiment: "exp-${branch}"])
        assert options.command == 'train --branch main'
        assert options.command instanceof String
        assert options.experiment instanceof String
    }

    @Test
    void numbersInTagsAndCommandListsBecomeStrings() {
        Map options = Options.validate('run', [command: ['train', 3], tags: [epochs: 10, seed: "${7}"]])
        assert options.command == ['train', '3']
        assert options.tags == [epochs: '10', seed: '7']
    }

    @Test
    void nestedNonStringValuesAreRejected() {
        IllegalArgumentException problem = shouldFail(IllegalArgumentException) {
            Options.validate('run', [command: ['train', ['nested']]])
        }
        assert problem.message == 'ciTrack.run: option command must be a list of strings; it contains a ArrayList'
        problem = shouldFail(IllegalArgumentException) {
            Options.validate('run', [command: 'train', tags: [a: null]])
        }
        assert problem.message == 'ciTrack.run: option tags must map strings to strings; a is a null'
    }

    @Test
    void tagKeysMustNotContainEquals() {
        IllegalArgumentException problem = shouldFail(IllegalArgumentException) {
            Options.validate('run', [command: 'train', tags: ['a=b': 'c']])
        }
        assert problem.message.contains("has the key 'a=b'")
    }

    @Test
    void runNeedsExactlyOneOfCommandAndEntryPoint() {
        assert shouldFail(IllegalArgumentException) { Options.validate('run', [:]) }.message.contains('exactly one of')
        assert shouldFail(IllegalArgumentException) {
            Options.validate('run', [command: 'x', entryPoint: 'main'])
        }.message.contains('exactly one of')
        assert shouldFail(IllegalArgumentException) { Options.validate('run', [command: []]) }.message ==
            'ciTrack.run: command: is an empty list'
        assert shouldFail(IllegalArgumentException) { Options.validate('run', [command: '  ']) }.message ==
            'ciTrack.run: command: is an empty string'
    }

    @Test
    void entryPointOptionsAreRejectedWithACommand() {
        IllegalArgumentException problem = shouldFail(IllegalArgumentException) {
            Options.validate('run', [command: 'train', params: [alpha: '0.1']])
        }
        assert problem.message == 'ciTrack.run: params: and projectDir: only apply with entryPoint:, not with command:'
    }

    @Test
    void aSingleMetricsFileMayBeGivenAsAString() {
        assert Options.validate('run', [command: 'x', metricsFiles: 'metrics.json']).metricsFiles == ['metrics.json']
    }

    @Test
    void nullOptionsMeanDefaults() {
        assert Options.validate('rollback', null).install == 'auto'
        assert Options.validate('compare', [runId: null]).runId == null
    }

    @Test
    void unknownStepIsAnError() {
        assert shouldFail(IllegalArgumentException) { Options.validate('deploy', [:]) }.message ==
            "ciTrack has no step 'deploy'; steps: run, compare, promote, rollback"
    }

    @Test
    void installIsAutoNoneOrAnyNonEmptyPipRequirement() {
        assert Options.validate('rollback', [install: 'none']).install == 'none'
        assert Options.validate('rollback', [install: 'ci-track==0.2.0']).install == 'ci-track==0.2.0'
        assert Options.validate('rollback', [install: "/wheels/ci_track-${1}.whl"]).install == '/wheels/ci_track-1.whl'
        IllegalArgumentException problem = shouldFail(IllegalArgumentException) {
            Options.validate('rollback', [install: ' '])
        }
        assert problem.message == "ciTrack.rollback: option install must be 'auto', 'none' or a pip requirement, not an empty string"
    }

    @Test
    void theRemovedVersionAndInstallFromOptionsAreUnknown() {
        IllegalArgumentException problem = shouldFail(IllegalArgumentException) {
            Options.validate('compare', [version: '0.1.0', installFrom: 'x'])
        }
        assert problem.message.startsWith('ciTrack.compare: unknown options version, installFrom; valid options: ')
    }

    @Test
    void messagesNameTheStepAsThePipelineAuthorWroteIt() {
        IllegalArgumentException problem = shouldFail(IllegalArgumentException) {
            Options.validate('compare', [onRegresion: 'fail'], 'ciTrackCompare')
        }
        assert problem.message.startsWith('ciTrackCompare: unknown option onRegresion; valid options: ')
        problem = shouldFail(IllegalArgumentException) { Options.validate('run', [:], 'ciTrackRun') }
        assert problem.message.startsWith('ciTrackRun: give exactly one of command:')
    }

}
