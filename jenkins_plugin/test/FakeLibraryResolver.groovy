import org.jenkinsci.plugins.workflow.libs.LibraryResolver

/** A LibraryResolver (as GlobalLibraries is one) that offers the same configurations to every job. */
class FakeLibraryResolver extends LibraryResolver {
    final List configurations
    final List<Map> lookups = []

    FakeLibraryResolver(List configurations) {
        this.configurations = configurations
    }

    @Override
    Collection forJob(Object job, Map libraryVersions) {
        lookups.add([job: job, versions: libraryVersions])
        return configurations
    }
}
