module example.com/gounit

go 1.18
