import BlobHubRealtimeServer
import ArgumentParser
print("hi")
