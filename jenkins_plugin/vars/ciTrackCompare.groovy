import io.citrack.CiTrackSteps

/*
 * ciTrackCompare(onRegression: 'fail', ...): `ci-track compare` as a step of its own, callable in a
 * declarative pipeline's steps { } without script { }. The same as ciTrack.compare (see ciTrackCompare.txt).
 */

/** Gates the build; returns [exitCode, verdict, regression, markdownReport, jsonReport]. */
Map call(Map config = [:]) {
    return new CiTrackSteps(this, 'ciTrackCompare').compare(config)
}
