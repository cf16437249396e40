// Package corpus checks Haven's compose loader against compose files in the
// shapes popular projects publish (web app + database, reverse proxy + app,
// monitoring, CMSs, queues, search, analytics, CI, chat, wikis): each file
// under test/testdata/compose-corpus is written for Haven, modelled on a
// published stack's compose keys and syntax but not copied (no public code
// is kept here), and the README there lists what each one exercises. A
// file there that `haven validate` refuses is a compose habit Haven does
// not meet yet, so the test names every such file with the loader's first
// problem and sums up which keys block how many files.
package corpus
