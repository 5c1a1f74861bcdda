"""What run folders hold (`collect`), shown: tables (`tables`), the page and its figures (`page`, `plots`),
DataFrames (`frames`), and `seqmem report`'s work after parsing (`command`)."""
