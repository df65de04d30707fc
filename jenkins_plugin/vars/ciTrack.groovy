import io.citrack.CiTrackSteps

/*
 * ciTrack: track a training run in MLflow, compare it with the champion, promote or roll back,
 * from a Jenkins pipeline. The help page is ciTrack.txt; docs/jenkins.md has the full guide.
 *
 * `ciTrack.run(...)` and the step `ciTrackRun(...)` (vars/ciTrackRun.groovy) are the same thing; the
 * steps need no script { } block in a declarative pipeline. Everything is done by
 * io.citrack.CiTrackSteps, so the only public methods of this global are the four below (a test
 * asserts the set): helpers in a vars/ script would be callable from every Jenkinsfile.
 */

/** `ci-track run`: returns the run id and sets env.CI_TRACK_RUN_ID. */
String run(Map options) {
    return new CiTrackSteps(this, 'ciTrack.run').run(options)
}

/** `ci-track compare`: gates the build; returns [exitCode, verdict, regression, markdownReport, jsonReport]. */
Map compare(Map options = [:]) {
    return new CiTrackSteps(this, 'ciTrack.compare').compare(options)
}

/** `ci-track promote`: makes the run (runId, else this build's run) the champion; returns its id. */
String promote(Map options = [:]) {
    return new CiTrackSteps(this, 'ciTrack.promote').promote(options)
}

/** `ci-track rollback`: makes the previous champion the champion again. */
void rollback(Map options = [:]) {
    new CiTrackSteps(this, 'ciTrack.rollback').rollback(options)
}
