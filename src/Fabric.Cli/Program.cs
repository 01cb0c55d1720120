using Fabric.Cli;

return FabricCommandLine.Run(args, Console.Out, Console.Error);
