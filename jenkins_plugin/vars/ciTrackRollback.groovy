import io.citrack.CiTrackSteps

/*
 * ciTrackRollback(): `ci-track rollback` as a step of its own, callable in a declarative pipeline's
 * steps { } without script { }. The same as ciTrack.rollback (see ciTrackRollback.txt).
 */

/** Makes the previous champion the champion again. */
void call(Map config = [:]) {
    new CiTrackSteps(this, 'ciTrackRollback').rollback(config)
}
