/** The `currentBuild` global: result (null while all is well) and description. */
class FakeBuild {
    static final List<String> ORDER = ['SUCCESS', 'UNSTABLE', 'FAILURE', 'NOT_BUILT', 'ABORTED']
    String result
    String description
    /** currentBuild.rawBuild: the Run; its parent is the job LibrarySource looks libraries up for. */
    final Map rawBuild = [parent: [fullName: 'model']]

    String getCurrentResult() {
        return result ?: 'SUCCESS'
    }

    /** Jenkins only ever makes a result worse. */
    void worsen(String newResult) {
        if (ORDER.indexOf(newResult) > ORDER.indexOf(getCurrentResult())) {
            result = newResult
        }
    }
}
