package hudson

/**
 * Test stand-in for Jenkins' hudson.ExtensionList: `lookup(type)` returns the registered extensions
 * of that type, in order, as the real one returns a plugin's @Extension instances by ordinal.
 */
class ExtensionList {
    static final List registered = []

    static List lookup(Class type) {
        return registered.findAll { type.isInstance(it) }
    }
}
