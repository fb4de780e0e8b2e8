from AngioSegLib.cli import main

main()
