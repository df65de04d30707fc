package org.jenkinsci.plugins.workflow.libs

/**
 * Test stand-in for the extension point of Pipeline: Groovy Libraries with the same name and the one
 * method LibraryAdder calls: `forJob(job, libraryVersions)` returns the library configurations
 * (name, retriever) that apply to the job.
 */
abstract class LibraryResolver {
    abstract Collection forJob(Object job, Map libraryVersions)
}
