package policy

// What infra_test.go (package policy_test, which may import policyfile)
// uses of this package's test helpers.
var (
	MustSnapshot              = mustSnapshot
	WithCatalog               = withCatalog
	TestCatalog               = testCatalog
	CheckAllowedMatchesDecide = checkAllowedMatchesDecide
)
