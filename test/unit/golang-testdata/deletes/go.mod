module example.com/godeletes

go 1.21
