# Written for Haven's compose corpus: the least a build needs.
FROM scratch
