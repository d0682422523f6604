from provisioner.cli.entry import main

main()
