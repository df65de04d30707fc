import io.citrack.CiTrackSteps

/*
 * ciTrackPromote(runId: ..., force: false): `ci-track promote` as a step of its own, callable in a
 * declarative pipeline's steps { } without script { }. The same as ciTrack.promote (see ciTrackPromote.txt).
 */

/** Makes the run (runId, else this build's run) the champion; returns its id. */
String call(Map config = [:]) {
    return new CiTrackSteps(this, 'ciTrackPromote').promote(config)
}
