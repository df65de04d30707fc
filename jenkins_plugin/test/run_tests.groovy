/*
 * Runs the shared library's JUnit tests, from jenkins_plugin/:
 *
 *     groovy -cp src:test test/run_tests.groovy [TestClass...]
 *
 * `groovy SomeTest.groovy` exits 0 even when a test fails, so this runner runs every
 * test/*Test.groovy (or the named classes) through JUnitCore, prints each failure,
 * then "N passed, N failed", and exits 1 when a test failed or none ran.
 */
import org.junit.runner.JUnitCore
import org.junit.runner.Result
import org.junit.runner.notification.Failure

File testDir = new File(FakePipeline.LIBRARY_ROOT, 'test')
List<String> names = args ? (args as List) :
    testDir.listFiles().findAll { it.name.endsWith('Test.groovy') }*.name.sort().collect { it - '.groovy' }
ClassLoader loader = this.class.classLoader
Class[] classes = names.collect { loader.loadClass(it) } as Class[]

Result result = new JUnitCore().run(classes)
for (Failure failure in result.failures) {
    println "FAILED ${failure.testHeader}"
    // the message (with Groovy's power-assert diagram) and the frames in our own .groovy files
    List<String> lines = failure.trace.readLines()
    int firstFrame = lines.findIndexOf { it.trim().startsWith('at ') }
    println((firstFrame < 0 ? lines : lines.take(firstFrame)).join('\n'))
    lines.drop(Math.max(firstFrame, 0)).findAll { it.contains('.groovy:') }.each { println it }
}
int failed = result.failureCount
int passed = result.runCount - failed
println "${passed} passed, ${failed} failed"
System.exit(failed == 0 && result.runCount > 0 ? 0 : 1)
