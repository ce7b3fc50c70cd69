package ports

// PasswordHasher turns passwords into self-describing encoded hashes (PHC
// strings carrying algorithm, parameters and salt) and checks passwords
// against them. Passwords are used exactly as given: never trimmed,
// truncated or case-folded. Implementations are safe for concurrent use and
// may bound how many hashes run at once, because each costs tens of MiB.
//
// Hash returns a new encoding of password with a fresh random salt, so two
// calls never return the same string. Errors: domain.KindInternal when
// randomness fails; domain.KindUnavailable when the hasher is saturated and
// the caller should answer "try again later" (503) instead of queueing.
//
// Verify reports whether password matches encoded, comparing in constant
// time. A wrong password is ok == false with a nil error. needsRehash is true
// only when ok is true and encoded was made with other parameters than the
// current ones, so the caller should Hash the password again and store the
// result. Errors: domain.KindInternal when encoded is corrupt, of another
// algorithm or version, or has parameters outside the implementation's safe
// bounds (refused before any hashing, so a corrupt row cannot exhaust
// memory); domain.KindUnavailable when saturated, as for Hash. On error ok is
// false.
//
// DummyVerify does the work of a Verify with the current parameters against
// nothing, for sign-in attempts with an unknown address, so their timing
// does not reveal which addresses have accounts. It has no result.
type PasswordHasher interface {
	Hash(password string) (encoded string, err error)
	Verify(password, encoded string) (ok bool, needsRehash bool, err error)
	DummyVerify(password string)
}
