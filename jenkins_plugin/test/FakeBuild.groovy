/** The `currentBuild` global: result (null while all is well) and description. */
class FakeBuild {
    static final List<String> ORDER = ['SUCCESS', 'UNSTABLE', 'FAILURE', 'NOT_BUILT', 'ABORTED']
    String result
    String description

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
