// The Set methods of ES2025 (Node 22+), for gitlab-ci-local 4.75.1 on Node 20, which lacks them:
// gitlab-ci-local calls Set.prototype.union at start-up. Each follows the proposal's semantics for
// what gitlab-ci-local passes (another Set); nothing is replaced where the runtime has its own.
// Preloaded by tests/e2e/test_gitlab_ci_local.py with `node --import`.
const define = (name, method) => {
  if (typeof Set.prototype[name] !== "function") {
    Object.defineProperty(Set.prototype, name, { value: method, writable: true, configurable: true });
  }
};
define("union", function union(other) {
  const result = new Set(this);
  for (const value of other.keys()) result.add(value);
  return result;
});
define("intersection", function intersection(other) {
  const result = new Set();
  for (const value of this) if (other.has(value)) result.add(value);
  return result;
});
define("difference", function difference(other) {
  const result = new Set();
  for (const value of this) if (!other.has(value)) result.add(value);
  return result;
});
define("symmetricDifference", function symmetricDifference(other) {
  const result = new Set(this);
  for (const value of other.keys()) {
    if (this.has(value)) result.delete(value);
    else result.add(value);
  }
  return result;
});
define("isSubsetOf", function isSubsetOf(other) {
  for (const value of this) if (!other.has(value)) return false;
  return true;
});
define("isSupersetOf", function isSupersetOf(other) {
  for (const value of other.keys()) if (!this.has(value)) return false;
  return true;
});
define("isDisjointFrom", function isDisjointFrom(other) {
  for (const value of this) if (other.has(value)) return false;
  return true;
});
