package io.citrack

/**
 * The options each ciTrack step accepts, and their validation.
 *
 * A pipeline author passes a map (`ciTrack.compare(onRegression: 'unstable')`); `validate` checks it
 * against the step's spec and returns a new map with every option present (defaults filled in).
 * A misspelled key fails the build with the list of valid keys instead of being silently ignored,
 * and a value of the wrong type fails with the key, the expected type and the value's type.
 *
 * Pure code (no pipeline steps), so it is unit-tested with plain maps.
 */
class Options implements Serializable {

    private static final long serialVersionUID = 1L

    /** `install:` values that are not a pip requirement. */
    static final String INSTALL_AUTO = 'auto'
    static final List INSTALL_NONE = ['none', 'never']

    static final String STRING = 'string'
    static final String BOOLEAN = 'boolean'
    static final String INTEGER = 'integer'
    static final String LIST = 'list of strings'
    static final String MAP = 'map of strings'
    static final String STRING_OR_LIST = 'string or list of strings'
    static final String REPEAT = "whole number of runs or 'auto'"
    static final int MAX_REPEAT = 20  // as ci_track/gate/noise_config.py

    /** Options every step accepts: where ci-track comes from and which credentials it gets. */
    static final Map COMMON = [
        mlflowTrackingUri    : [type: STRING],
        mlflowCredentialsId  : [type: STRING],
        mlflowCredentialsType: [type: STRING, defaultValue: 'token', allowed: ['token', 'usernamePassword']],
        githubCredentialsId  : [type: STRING],
        githubCredentialsType: [type: STRING, defaultValue: 'token', allowed: ['token', 'usernamePassword']],
        githubApiUrl         : [type: STRING],
        gitlabCredentialsId  : [type: STRING],  // secret text: a project or group access token (api scope)
        gitlabApiUrl         : [type: STRING],  // self-managed GitLab: https://HOST/api/v4
        gitlabProject        : [type: STRING],  // the project's id or path, when the clone URL does not say
        bitbucketCredentialsId: [type: STRING],  // secret text: a repository or workspace access token
        bitbucketApiUrl      : [type: STRING],
        // where the report goes: the multibranch source's forge (Forge.resolve), or one named here
        forge                : [type: STRING, defaultValue: 'auto', allowed: ['auto', 'github', 'gitlab', 'bitbucket', 'none']],
        // 'auto', 'none' ('never'), or a pip requirement: see CiTrackSteps.ciTrackExecutable.
        install              : [type: STRING, defaultValue: INSTALL_AUTO],
        python               : [type: STRING, defaultValue: 'python3'],
        venvDir              : [type: STRING, defaultValue: '.ci-track/venv'],
    ]

    static final Map RUN = [
        command     : [type: STRING_OR_LIST],
        entryPoint  : [type: STRING],
        params      : [type: MAP, defaultValue: [:]],
        projectDir  : [type: STRING],
        experiment  : [type: STRING],
        runName     : [type: STRING],
        metricsFiles: [type: STRING_OR_LIST, defaultValue: []],
        tags        : [type: MAP, defaultValue: [:]],
        // `ci-track run --repeat N|auto --repeat-max M`: several seeded runs, one candidate (docs/noise.md)
        repeat      : [type: REPEAT],
        repeatMax   : [type: INTEGER],
        archive     : [type: BOOLEAN, defaultValue: true],
    ]

    static final Map COMPARE = [
        runId        : [type: STRING],
        championRunId: [type: STRING],
        config       : [type: STRING],
        baseBranch   : [type: STRING],
        reportDir    : [type: STRING, defaultValue: 'ci-track-report'],
        onRegression : [type: STRING, defaultValue: 'fail', allowed: ['fail', 'unstable', 'ignore']],
        comment      : [type: STRING, defaultValue: 'auto',
                        allowed: ['auto', 'update', 'new', 'delete-on-pass', 'off']],
        status       : [type: BOOLEAN],  // null: post a commit status on PR builds only
        junit        : [type: BOOLEAN, defaultValue: false],  // write reportDir/junit.xml and publish it with `junit`
        archive      : [type: BOOLEAN, defaultValue: true],
    ]

    static final Map PROMOTE = [
        runId: [type: STRING],
        force: [type: BOOLEAN, defaultValue: false],
    ]

    static final Map ROLLBACK = [:]

    static final Map STEPS = [run: RUN, compare: COMPARE, promote: PROMOTE, rollback: ROLLBACK]

    /** The full spec of a step: its own options plus the common ones. */
    static Map specFor(String step) {
        Map own = (Map) STEPS[step]
        if (own == null) {
            throw new IllegalArgumentException("ciTrack has no step '${step}'; steps: ${STEPS.keySet().join(', ')}")
        }
        Map spec = new LinkedHashMap(own)
        spec.putAll(COMMON)
        return spec
    }

    /**
     * Check `given` against the step's spec; return a new map holding every option of the step.
     * Throws IllegalArgumentException with a message that says what to fix; it starts with `caller`,
     * the name the pipeline author wrote (`ciTrack.compare` or `ciTrackCompare`).
     */
    static Map validate(String step, Map given, String caller = "ciTrack.${step}".toString()) {
        Map spec = specFor(step)
        Map provided = given == null ? [:] : given
        List unknown = []
        for (Object key in provided.keySet()) {
            if (!spec.containsKey(String.valueOf(key))) {
                unknown.add(String.valueOf(key))
            }
        }
        if (unknown) {
            List valid = new ArrayList(spec.keySet())
            Collections.sort(valid)
            throw new IllegalArgumentException(
                "${caller}: unknown option${unknown.size() == 1 ? '' : 's'} ${unknown.join(', ')}; " +
                "valid options: ${valid.join(', ')}")
        }
        Map result = [:]
        for (Object keyObject in spec.keySet()) {
            String key = (String) keyObject
            Map rule = (Map) spec[key]
            Object value = provided.containsKey(key) ? provided[key] : null
            if (value == null) {
                result[key] = copyDefault(rule.defaultValue)
                continue
            }
            Object normalized = normalize(caller, key, (String) rule.type, value)
            List allowed = (List) rule.allowed
            if (allowed != null && !allowed.contains(normalized)) {
                throw new IllegalArgumentException(
                    "${caller}: option ${key} must be one of ${allowed.join(', ')}, not '${normalized}'")
            }
            result[key] = normalized
        }
        checkCombinations(step, caller, result)
        return result
    }

    /** Rules that involve more than one option. */
    private static void checkCombinations(String step, String caller, Map options) {
        if (step == 'run') {
            boolean hasCommand = options.command != null
            boolean hasEntryPoint = options.entryPoint != null
            if (hasCommand == hasEntryPoint) {
                throw new IllegalArgumentException(
                    "${caller}: give exactly one of command: (a training command) or entryPoint: (an MLproject entry point)".toString())
            }
            if (hasCommand && (((Map) options.params) || options.projectDir != null)) {
                throw new IllegalArgumentException(
                    "${caller}: params: and projectDir: only apply with entryPoint:, not with command:".toString())
            }
            if (options.command instanceof List && ((List) options.command).isEmpty()) {
                throw new IllegalArgumentException("${caller}: command: is an empty list".toString())
            }
            if (options.command instanceof String && ((String) options.command).trim().isEmpty()) {
                throw new IllegalArgumentException("${caller}: command: is an empty string".toString())
            }
            checkRepeat(caller, options)
        }
        if (((String) options.install).trim().isEmpty()) {
            throw new IllegalArgumentException(
                "${caller}: option install must be 'auto', 'none' or a pip requirement, not an empty string".toString())
        }
    }

    /** repeat: 1..MAX_REPEAT or 'auto'; 'auto' needs repeatMax (1..MAX_REPEAT), and only 'auto' takes one. */
    private static void checkRepeat(String caller, Map options) {
        String repeat = (String) options.repeat
        Integer maximum = (Integer) options.repeatMax
        if (repeat != null && repeat != 'auto' && !(Integer.parseInt(repeat) in 1..MAX_REPEAT)) {
            throw new IllegalArgumentException(
                "${caller}: option repeat must be a whole number of runs from 1 to ${MAX_REPEAT} or 'auto', not ${repeat}".toString())
        }
        if (repeat == 'auto' && maximum == null) {
            throw new IllegalArgumentException("${caller}: repeat: 'auto' needs repeatMax: (the most runs it may take)".toString())
        }
        if (maximum != null && repeat != 'auto') {
            throw new IllegalArgumentException("${caller}: repeatMax: is the maximum of repeat: 'auto'".toString())
        }
        if (maximum != null && !(maximum in 1..MAX_REPEAT)) {
            throw new IllegalArgumentException(
                "${caller}: option repeatMax must be from 1 to ${MAX_REPEAT}, not ${maximum}".toString())
        }
    }

    /** Check the type of one value; GStrings become Strings so later code only sees String. */
    private static Object normalize(String caller, String key, String type, Object value) {
        switch (type) {
            case STRING:
                if (value instanceof CharSequence) {
                    return value.toString()
                }
                break
            case BOOLEAN:
                if (value instanceof Boolean) {
                    return value
                }
                break
            case INTEGER:
                if (value instanceof Integer || value instanceof Long) {
                    return ((Number) value).intValue()
                }
                break
            case REPEAT:
                if (value instanceof Integer || value instanceof Long) {
                    return String.valueOf(((Number) value).longValue())
                }
                if (value instanceof CharSequence && (value.toString().trim() ==~ /[0-9]{1,9}|(?i)auto/)) {
                    return value.toString().trim().toLowerCase()
                }
                break
            case LIST:
                if (value instanceof List) {
                    return stringList(caller, key, (List) value)
                }
                break
            case STRING_OR_LIST:
                if (value instanceof CharSequence) {
                    return key == 'metricsFiles' ? [value.toString()] : value.toString()
                }
                if (value instanceof List) {
                    return stringList(caller, key, (List) value)
                }
                break
            case MAP:
                if (value instanceof Map) {
                    return stringMap(caller, key, (Map) value)
                }
                break
            default:
                throw new IllegalStateException("unknown option type ${type}")
        }
        throw new IllegalArgumentException(
            "${caller}: option ${key} must be a ${type}, not a ${value.getClass().getSimpleName()}")
    }

    private static List stringList(String caller, String key, List value) {
        List result = []
        for (Object item in value) {
            if (!(item instanceof CharSequence || item instanceof Number || item instanceof Boolean)) {
                String type = item == null ? 'null' : item.getClass().getSimpleName()
                throw new IllegalArgumentException(
                    "${caller}: option ${key} must be a list of strings; it contains a ${type}")
            }
            result.add(item.toString())
        }
        return result
    }

    private static Map stringMap(String caller, String key, Map value) {
        Map result = [:]
        for (Object entryKey in value.keySet()) {
            Object item = value[entryKey]
            if (!(item instanceof CharSequence || item instanceof Number || item instanceof Boolean)) {
                String type = item == null ? 'null' : item.getClass().getSimpleName()
                throw new IllegalArgumentException(
                    "${caller}: option ${key} must map strings to strings; ${entryKey} is a ${type}")
            }
            String name = String.valueOf(entryKey)
            if (name.isEmpty() || name.contains('=')) {
                throw new IllegalArgumentException(
                    "${caller}: option ${key} has the key '${name}'; keys must be non-empty and contain no '='")
            }
            result[name] = item.toString()
        }
        return result
    }

    private static Object copyDefault(Object value) {
        if (value instanceof Map) {
            return new LinkedHashMap((Map) value)
        }
        if (value instanceof List) {
            return new ArrayList((List) value)
        }
        return value
    }
}
