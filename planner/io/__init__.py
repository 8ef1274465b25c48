"""Reading and writing files: the workbook contract (schema), the reader, the writers of portfolios and templates, generated and imported workbooks."""
