CosSigner.runMain()
