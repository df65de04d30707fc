import io.citrack.CiTrackSteps

/*
 * ciTrackRun(command: [...], ...): `ci-track run` as a step of its own, callable in a declarative
 * pipeline's steps { } without script { }. The same as ciTrack.run (see ciTrackRun.txt).
 */

/** Returns the run id and sets env.CI_TRACK_RUN_ID. */
String call(Map config = [:]) {
    return new CiTrackSteps(this, 'ciTrackRun').run(config)
}
