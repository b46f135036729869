module example.com/gonethttp

go 1.21
