"""The suite's own tests, a folder (a package) per purpose: the suite catches bugs, passes
correct GRUs, holds its oracle to references, holds the trust boundary, tells its user the
truth and keeps the README's promises. README.md here says where a new test goes."""
