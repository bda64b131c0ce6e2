package tools

// CheckResult is checkResult for the tests of package tools_test.
var CheckResult = checkResult
