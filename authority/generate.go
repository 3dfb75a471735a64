package authority

//go:generate go run ./internal/vectors/gen -keys testdata/keys -out testdata/vectors.json
