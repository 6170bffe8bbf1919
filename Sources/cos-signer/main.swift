import ArgumentParser
import CoSSigner

CosSigner.main()
